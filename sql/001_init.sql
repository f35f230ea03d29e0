-- profactory schema, version 1.
-- Times are Unix seconds (UTC).  Challenges are kept only as SHA-256
-- digests; nothing in this database is the secret itself.

CREATE TABLE templates (
	id		INTEGER PRIMARY KEY,
	name		TEXT NOT NULL,
	version		INTEGER NOT NULL,
	body		BLOB NOT NULL,		-- the XML plist as added
	sha256		TEXT NOT NULL,		-- hex digest of body
	source		TEXT,			-- file it was added from
	forced		INTEGER NOT NULL DEFAULT 0,
	created_at	INTEGER NOT NULL,
	removed_at	INTEGER,		-- set on every version by remove
	UNIQUE (name, version)
);

CREATE TABLE runs (
	id		INTEGER PRIMARY KEY,
	name		TEXT NOT NULL UNIQUE,	-- directory name under OUT/
	kind		TEXT NOT NULL,		-- run | regenerate
	status		TEXT NOT NULL,		-- running | done | failed | interrupted
	pid		INTEGER,
	started_at	INTEGER NOT NULL,
	finished_at	INTEGER,
	duration_ms	INTEGER,
	csv_path	TEXT,
	out_dir		TEXT NOT NULL,		-- absolute output root
	signer_sha256	TEXT,			-- signer certificate fingerprint
	signer_subject	TEXT,
	jobs		INTEGER,
	n_rows		INTEGER NOT NULL DEFAULT 0,
	n_issued	INTEGER NOT NULL DEFAULT 0,
	n_reissued	INTEGER NOT NULL DEFAULT 0,
	n_unchanged	INTEGER NOT NULL DEFAULT 0,
	n_revoked	INTEGER NOT NULL DEFAULT 0,
	n_failed	INTEGER NOT NULL DEFAULT 0,
	error		TEXT
);

CREATE TABLE users (
	id		INTEGER PRIMARY KEY,
	key		TEXT NOT NULL UNIQUE,	-- value of the key column
	attrs		TEXT NOT NULL,		-- JSON object of the CSV row
	attrs_sha256	TEXT NOT NULL,
	first_run	INTEGER REFERENCES runs(id),
	last_run	INTEGER REFERENCES runs(id),
	created_at	INTEGER NOT NULL,
	updated_at	INTEGER NOT NULL
);

CREATE TABLE profiles (
	id		INTEGER PRIMARY KEY,
	run_id		INTEGER NOT NULL REFERENCES runs(id),
	user_id		INTEGER NOT NULL REFERENCES users(id),
	template_id	INTEGER NOT NULL REFERENCES templates(id),
	status		TEXT NOT NULL,		-- issued | reissued
	file		TEXT NOT NULL,		-- relative to the run directory
	sha256		TEXT NOT NULL,
	bytes		INTEGER NOT NULL,
	payload_identifier TEXT NOT NULL,
	payload_uuid	TEXT NOT NULL,
	attrs_sha256	TEXT NOT NULL,		-- user attributes it was built from
	created_at	INTEGER NOT NULL,
	superseded_at	INTEGER,
	UNIQUE (run_id, file)
);
CREATE INDEX profiles_user ON profiles (user_id, template_id);

CREATE TABLE challenges (
	id		INTEGER PRIMARY KEY,
	digest		BLOB NOT NULL UNIQUE,	-- SHA-256 of the challenge text
	profile_id	INTEGER NOT NULL UNIQUE REFERENCES profiles(id),
	user_id		INTEGER NOT NULL REFERENCES users(id),
	template_id	INTEGER NOT NULL REFERENCES templates(id),
	issued_at	INTEGER NOT NULL,
	expires_at	INTEGER NOT NULL,
	used_at		INTEGER,
	used_key_sha256	TEXT,			-- CSR public key that used it
	revoked_at	INTEGER,
	revoke_reason	TEXT			-- revoked | superseded | pruned
);
CREATE INDEX challenges_user ON challenges (user_id, template_id);

-- Values a certificate request must carry: the SCEP Subject and
-- SubjectAltName entries the template filled from user data.
CREATE TABLE bindings (
	profile_id	INTEGER NOT NULL REFERENCES profiles(id),
	kind		TEXT NOT NULL,		-- subject | san
	name		TEXT NOT NULL,		-- CN, O, rfc822Name, ...
	value		TEXT NOT NULL
);
CREATE INDEX bindings_profile ON bindings (profile_id);

-- Every verify-csr decision.
CREATE TABLE decisions (
	id		INTEGER PRIMARY KEY,
	at		INTEGER NOT NULL,
	challenge_id	INTEGER REFERENCES challenges(id),
	result		TEXT NOT NULL,		-- approved | refused
	reason		TEXT NOT NULL,
	key_sha256	TEXT
);

-- Rows of a run that produced no profile.
CREATE TABLE failures (
	run_id		INTEGER NOT NULL REFERENCES runs(id),
	line		INTEGER,
	user_key	TEXT,
	template	TEXT,
	error		TEXT NOT NULL
);
CREATE INDEX failures_run ON failures (run_id);
