-- Where the secretary may send a caller. voice_secretary_uuid NULL = applies to every secretary of the domain.
CREATE TABLE IF NOT EXISTS v_voice_transfer_rules (
  voice_transfer_rule_uuid uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  domain_uuid              uuid NOT NULL REFERENCES v_domains (domain_uuid) ON DELETE CASCADE,
  voice_secretary_uuid     uuid REFERENCES v_voice_secretaries (voice_secretary_uuid) ON DELETE CASCADE,
  department               text NOT NULL,
  keywords                 text[] NOT NULL DEFAULT '{}',
  destination_type         text NOT NULL
                             CHECK (destination_type IN ('extension', 'ring_group', 'queue', 'voicemail', 'external')),
  destination_number       text NOT NULL,
  destination_context      text,
  priority                 integer NOT NULL DEFAULT 100,
  -- {"mon":[["08:00","18:00"]], ...} in the secretary's timezone; NULL = always open
  business_hours           jsonb,
  fallback_action          text NOT NULL DEFAULT 'voicemail'
                             CHECK (fallback_action IN ('voicemail', 'operator', 'message', 'hangup')),
  fallback_destination     text,
  is_enabled               boolean NOT NULL DEFAULT true,
  created_at               timestamptz NOT NULL DEFAULT now(),
  updated_at               timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS v_voice_transfer_rules_domain_idx
  ON v_voice_transfer_rules (domain_uuid, voice_secretary_uuid, priority);
