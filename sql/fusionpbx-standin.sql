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

-- FusionPBX's dialplan table (what `voice-ai dialplan install` writes). dialplan_enabled, dialplan_continue and
-- dialplan_destination are boolean since FusionPBX 5.5 (text 'true'/'false' before).
CREATE TABLE IF NOT EXISTS v_dialplans (
  dialplan_uuid         uuid PRIMARY KEY,
  domain_uuid           uuid,
  app_uuid              uuid,
  hostname              text,
  dialplan_context      text,
  dialplan_name         text,
  dialplan_number       text,
  dialplan_destination  boolean,
  dialplan_continue     boolean,
  dialplan_xml          text,
  dialplan_order        numeric,
  dialplan_enabled      boolean,
  dialplan_description  text,
  insert_date           timestamptz,
  insert_user           uuid,
  update_date           timestamptz,
  update_user           uuid
);
