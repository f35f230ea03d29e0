-- profactory schema, version 3: what a no-change rerun needs to know that
-- a profile file is as it was written without reading it back.
--
-- file_ino, file_mtime: the inode number and modification time
-- (nanoseconds since the epoch) of the profile file just after it was
-- written, NULL when not known.  files_settled: the change time (ctime,
-- nanoseconds, the file system's own clock) of the last profile file a
-- finished run linked into OUT/current/; every link a run makes to its
-- own profiles came no later than that.  A file with its recorded inode,
-- size and modification time whose change time is still older than its
-- run's files_settled has not been written, renamed over, linked or had
-- its mode changed since then; any other file is read and its digest
-- checked.

ALTER TABLE profiles ADD COLUMN file_ino INTEGER;
ALTER TABLE profiles ADD COLUMN file_mtime INTEGER;
ALTER TABLE runs ADD COLUMN files_settled INTEGER;
