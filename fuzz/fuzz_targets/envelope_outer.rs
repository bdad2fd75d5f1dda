//! The outer envelope a provider's mailbox receives for a device or a replica
//! (`messenger::envelope::Outer::decode`), and a replica keeper's handling of one
//! (`ReplicaKeeper::on_message` for a registered real group). Asserts: a decoded envelope
//! re-encodes to the same bytes; the keeper keeps only entries that verify.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wesh_client::messenger::envelope::Outer;
use wesh_client::messenger::replica::{Registration, ReplicaKeeper};
use wesh_fuzz::assert_canonical;
use wesh_fuzz::fixtures::{PROVIDER, group};

fuzz_target!(|data: &[u8]| {
    assert_canonical(data, Outer::decode, Outer::encode);
    let g = group();
    let mut keeper = ReplicaKeeper::new(PROVIDER);
    let Ok(Registration::New { record, .. }) = keeper.register(&g.registration, [1; 32], 0) else {
        return;
    };
    if keeper.admit(&record).is_err() {
        return;
    }
    if let Ok(accepted) = keeper.on_message(data) {
        let Ok(Outer::Replica { entries, .. }) = Outer::decode(data) else {
            panic!("the keeper accepted what is not a replica envelope");
        };
        assert!(accepted.entries.len() <= entries.len());
    }
});
