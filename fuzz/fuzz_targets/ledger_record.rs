//! A client's credit record as a provider stores and reloads it (`LedgerRecord::decode`,
//! versions 1 and 2). Asserts: a version-2 record re-encodes to the same bytes; a version-1
//! record re-encodes as version 2 with the load time as its last activity.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wesh_fuzz::assert_stable;
use wesh_payments::credit_book::LedgerRecord;

const NOW: u64 = 1_700_000_000;

fuzz_target!(|data: &[u8]| {
    if let Some(record) =
        assert_stable(data, |b| LedgerRecord::decode(b, NOW), LedgerRecord::encode)
    {
        if data.first() == Some(&2) {
            assert_eq!(record.encode().as_slice(), data);
        } else {
            assert_eq!(record.last_active, NOW);
        }
    }
});
