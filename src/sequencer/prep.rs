//! Prep: request → txn, validated against the tree plus the changes of txns
//! that are prepped but not yet applied (ZooKeeper's outstanding changes).
