-- An example of a provider's existing EHR schema (PostgreSQL), read by the gatekeeper through
-- postgres-example-mapping.json. The tests create exactly this schema and mapping
-- (test/gatekeeper/record-source-postgres.test.ts), so the documented example cannot rot.

CREATE TABLE patients (
  mrn             text PRIMARY KEY,
  external_id     text,
  medrec_identity text UNIQUE,
  family_name     text,
  given_name      text,
  sex             text CHECK (sex IN ('female', 'male', 'other', 'unknown')),
  birth_date      date,
  active          boolean NOT NULL DEFAULT true,
  created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE lab_results (
  result_id   text PRIMARY KEY,
  mrn         text NOT NULL REFERENCES patients (mrn),
  loinc       text NOT NULL,
  loinc_name  text,
  local_name  text,
  category    text,
  value       numeric,
  unit        text,
  ucum_unit   text,
  status      text NOT NULL DEFAULT 'final',
  taken_at    timestamptz
);
CREATE INDEX lab_results_mrn ON lab_results (mrn);

CREATE TABLE problem_list (
  problem_id          text PRIMARY KEY,
  mrn                 text NOT NULL REFERENCES patients (mrn),
  snomed_code         text,
  snomed_name         text,
  icd10cm_code        text,
  description         text,
  clinical_status     text,
  verification_status text,
  category            text,
  onset               text  -- partial dates as recorded: 2001, 2009-06, 2015-03-01
);
CREATE INDEX problem_list_mrn ON problem_list (mrn);

CREATE TABLE visits (
  visit_id    text PRIMARY KEY,
  mrn         text NOT NULL REFERENCES patients (mrn),
  status      text NOT NULL,
  class_code  text,
  class_name  text,
  snomed_type text,
  type_name   text,
  started_at  timestamptz,
  ended_at    timestamptz
);
CREATE INDEX visits_mrn ON visits (mrn);

CREATE TABLE prescriptions (
  rx_id      text PRIMARY KEY,
  mrn        text NOT NULL REFERENCES patients (mrn),
  rxnorm     text,
  drug_name  text,
  status     text NOT NULL,
  intent     text NOT NULL DEFAULT 'order',
  written_on date,
  sig        text
);
CREATE INDEX prescriptions_mrn ON prescriptions (mrn);

CREATE TABLE immunizations (
  immunization_id text PRIMARY KEY,
  mrn             text NOT NULL REFERENCES patients (mrn),
  cvx             text NOT NULL,
  vaccine_name    text,
  status          text NOT NULL DEFAULT 'completed',
  administered_at timestamptz,
  primary_source  boolean
);
CREATE INDEX immunizations_mrn ON immunizations (mrn);

CREATE TABLE documents (
  doc_id       text PRIMARY KEY,
  mrn          text NOT NULL REFERENCES patients (mrn),
  loinc_type   text,
  type_name    text,
  category     text,
  status       text NOT NULL DEFAULT 'current',
  created_at   timestamptz,
  description  text,
  content_type text,
  title        text,
  body_base64  text
);
CREATE INDEX documents_mrn ON documents (mrn);
