// SPDX-License-Identifier: GPL-2.0

//! Journal recovery at mount: replays the committed transactions of the log (with the
//! shared driver of `format::journal`), then empties the log.

use crate::{format, RextFs};
use kernel::fs::bdev::{IoBuf, WriteFlags};
use kernel::fs::{SbState, SuperBlock};
use kernel::prelude::*;
use kernel::rbtree::{RBTree, RBTreeNode};

/// The journal region of the device, for the replay driver.
struct Dev<'a, S: SbState> {
    sb: &'a SuperBlock<RextFs, S>,
    start: u64,
    bs: usize,
    io: IoBuf,
    /// Copies of the super block go home with `ERRORS` set (errors were recorded, or the log
    /// is damaged): an older logged copy must never undo the record, even for a moment.
    errors: bool,
}

impl<S: SbState> format::JournalDev for Dev<'_, S> {
    type Error = Error;

    fn read_log(&mut self, idx: u64, buf: &mut [u8]) -> Result {
        let pos = self
            .start
            .checked_add(idx)
            .and_then(|b| b.checked_mul(self.bs as u64))
            .ok_or(EINVAL)?;
        self.sb.block_device().read(pos, &mut self.io)?;
        buf.copy_from_slice(&self.io);
        Ok(())
    }

    fn write_home(&mut self, blockno: u64, buf: &[u8]) -> Result {
        let pos = blockno.checked_mul(self.bs as u64).ok_or(EINVAL)?;
        self.io.copy_from_slice(buf);
        if blockno == 0 && self.errors {
            let sbuf = self.io.get_mut(..format::SB_SIZE).ok_or(EINVAL)?;
            if let Ok(mut d) = format::Superblock::decode(sbuf) {
                d.state = (d.state | format::STATE_ERRORS) & !format::STATE_CLEAN;
                d.encode(sbuf).map_err(|_| EINVAL)?;
            }
        }
        self.sb
            .block_device()
            .write(pos, &self.io, WriteFlags::NONE)
    }
}

/// Revoked blocks, for the replay driver.
struct Revokes(RBTree<u64, u64>);

impl format::RevokeTable for Revokes {
    type Error = Error;

    fn add(&mut self, blockno: u64, sequence: u64) -> Result {
        if let Some(s) = self.0.get_mut(&blockno) {
            *s = sequence;
            return Ok(());
        }
        self.0
            .insert(RBTreeNode::new(blockno, sequence, GFP_KERNEL)?);
        Ok(())
    }

    fn get(&self, blockno: u64) -> Option<u64> {
        self.0.get(&blockno).copied()
    }
}

/// What [`recover`] did.
pub(crate) struct Recovered {
    /// Sequence number of the first transaction of the (now empty) log.
    pub(crate) sequence: u64,
    /// Whether anything was written home (the super block must be read again).
    pub(crate) replayed: bool,
    /// The log still needs recovery (`norecovery`): the file system must stay read-only.
    pub(crate) needs_recovery: bool,
}

/// Reads the journal super block of the file system `geo` describes and, if the log holds
/// transactions, replays them (unless `replay` is false: then the log is left as it is and
/// the caller mounts read-only). `EFSCORRUPTED` if the journal super block is damaged.
pub(crate) fn recover<S: SbState>(
    sb: &SuperBlock<RextFs, S>,
    geo: &format::Superblock,
    replay: bool,
) -> Result<Recovered> {
    let bs = geo.block_size();
    let start = geo.layout.journal_start;
    let mut io = IoBuf::new(bs)?;
    sb.block_device().read(start * bs as u64, &mut io)?;
    let jsb = format::Jsb::decode(&io).map_err(|e| {
        pr_err!(
            "{}: corrupted journal super block: {}; run fsck.rextfs\n",
            sb.id(),
            e.as_str()
        );
        EFSCORRUPTED
    })?;
    if jsb.blocks != geo.layout.journal_blocks
        || jsb.block_log2 != geo.block_log2
        || jsb.uuid != geo.uuid
    {
        pr_err!(
            "{}: journal super block does not match the file system; run fsck.rextfs\n",
            sb.id()
        );
        return Err(EFSCORRUPTED);
    }
    if !jsb.needs_recovery() {
        return Ok(Recovered {
            sequence: jsb.sequence,
            replayed: false,
            needs_recovery: false,
        });
    }
    if !replay {
        pr_warn!(
            "{}: norecovery: the journal is not replayed, the file system may be inconsistent\n",
            sb.id()
        );
        return Ok(Recovered {
            sequence: jsb.sequence,
            replayed: false,
            needs_recovery: true,
        });
    }
    if sb.block_device().is_read_only() {
        // Replaying writes to the device (as ext4 and XFS refuse to, so does rextfs).
        pr_err!(
            "{}: the journal needs recovery but the device is read-only; mount with -o ro,norecovery to read the file system as it is on the device\n",
            sb.id()
        );
        return Err(EROFS);
    }
    let seed = format::log_seed(&geo.uuid);
    let mut dev = Dev {
        sb,
        start,
        bs,
        io: IoBuf::new(bs)?,
        errors: geo.state & format::STATE_ERRORS != 0,
    };
    let mut desc = KVec::from_elem(0u8, bs, GFP_KERNEL)?;
    let mut data = KVec::from_elem(0u8, bs, GFP_KERNEL)?;
    let valid = |b: u64| b < geo.total_blocks && !geo.in_journal(b);
    let found = format::scan(&jsb, &mut dev, &mut desc, &mut data, seed, valid).map_err(|e| {
        replay_error(
            sb,
            match e {
                format::ReplayError::Dev(e) => format::ReplayError::Dev(e),
                format::ReplayError::Table(()) => format::ReplayError::Table(EINVAL),
                format::ReplayError::Format(f) => format::ReplayError::Format(f),
            },
        )
    })?;
    let corrupt_log = matches!(found.end, format::LogEnd::BadHome(_));
    dev.errors |= corrupt_log;
    if let format::LogEnd::BadHome(b) = found.end {
        pr_err!(
            "{}: journal transaction {} writes block {} outside the metadata: replay stops before it; run fsck.rextfs\n",
            sb.id(),
            found.next_sequence,
            b
        );
    }
    let mut table = Revokes(RBTree::new());
    let written = format::replay(
        &jsb, &mut dev, &mut desc, &mut data, seed, &found, &mut table,
    )
    .map_err(|e| replay_error(sb, e))?;
    sb.block_device().flush()?;
    // Errors recorded after the last commit that logged the super block stay recorded (replay
    // carried them into that older copy as it wrote it), and a damaged log is an error of its
    // own: both are on the device before the log is emptied (here for a log without a copy
    // of the super block), so a crash in between cannot lose them.
    if corrupt_log || geo.state & format::STATE_ERRORS != 0 {
        let mut raw = crate::errors_record_buf(sb)?;
        crate::write_errors_record(sb, &mut raw)?;
    }
    // Transactions after the end of the log get numbers no old log block can carry.
    let sequence = found.next_sequence.wrapping_add(1);
    let empty = format::Jsb {
        tail: 0,
        sequence,
        ..jsb
    };
    io.fill(0);
    empty.encode(&mut io).map_err(|_| EINVAL)?;
    sb.block_device()
        .write(start * bs as u64, &io, WriteFlags::FUA)?;
    pr_info!(
        "{}: journal recovered: {} transactions, {} blocks written, {} revoked\n",
        sb.id(),
        found.transactions,
        written,
        found.revokes
    );
    Ok(Recovered {
        sequence,
        replayed: true,
        needs_recovery: false,
    })
}

/// Logs a failed replay and gives the errno to return.
fn replay_error<S: SbState>(
    sb: &SuperBlock<RextFs, S>,
    e: format::ReplayError<Error, Error>,
) -> Error {
    match e {
        format::ReplayError::Dev(e) | format::ReplayError::Table(e) => {
            pr_err!("{}: journal recovery failed: {:?}\n", sb.id(), e);
            e
        }
        format::ReplayError::Format(f) => {
            pr_err!("{}: journal recovery failed: {}\n", sb.id(), f.as_str());
            EFSCORRUPTED
        }
    }
}
