-- profactory schema, version 2: what `mail --sendmail` handed to sendmail,
-- so that mailing a run again does not send the same profile twice.

CREATE TABLE mail_sent (
	profile_id	INTEGER NOT NULL UNIQUE REFERENCES profiles(id),
	to_addr		TEXT NOT NULL,		-- the recipient's address
	message_id	TEXT NOT NULL,		-- with the angle brackets
	sent_at		INTEGER NOT NULL	-- sendmail exited 0
);
