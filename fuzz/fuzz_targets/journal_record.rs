//! A client journal record as a device replays it at start (`JournalRecord::decode`,
//! versions 1 and 2). Asserts: what decodes re-encodes to bytes that decode to the same
//! record (a version-1 record is written back as version 2).
#![no_main]

use libfuzzer_sys::fuzz_target;
use wesh_client::messenger::JournalRecord;
use wesh_fuzz::assert_stable;

fuzz_target!(|data: &[u8]| {
    if let Some(record) = assert_stable(data, JournalRecord::decode, JournalRecord::encode) {
        let again = JournalRecord::decode(&record.encode()).ok();
        assert_eq!(again.as_ref(), Some(&record));
    }
});
