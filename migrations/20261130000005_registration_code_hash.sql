-- Registration codes are stored salted and peppered (commands/src/ids.rs); bare SHA-256
-- hashes of older events stay readable under the new name.
ALTER TABLE registry_sims RENAME COLUMN registration_code_sha256 TO registration_code_hash;
