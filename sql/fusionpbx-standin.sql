-- NOT a migration. FusionPBX owns v_domains (and v_dialplans); the test setup and the offline demo create this
-- minimal stand-in with FusionPBX's columns so the daemon's migrations have something to reference.
CREATE TABLE IF NOT EXISTS v_domains (
  domain_uuid         uuid PRIMARY KEY,
  domain_parent_uuid  uuid,
  domain_name         text,
  domain_enabled      boolean DEFAULT true,
  domain_description  text,
  insert_date         timestamptz,
  insert_user         uuid,
  update_date         timestamptz,
  update_user         uuid
);
