-- Per-IMSI control (owner: the `registry` projection): the networks an IMSI is kept to, on top
-- of its fleet's Network Access Profile. Empty: the profile alone decides.
ALTER TABLE registry_sim_imsis ADD COLUMN networks text[] NOT NULL DEFAULT '{}';
