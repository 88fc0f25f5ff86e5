//! Reading `db.json`, applying environment overrides, validating.
//! (Filled in by the config work.)
