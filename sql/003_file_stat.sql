-- profactory schema, version 3: what a no-change rerun needs to know that
-- a profile file is as it was written without reading it back.
--
-- file_ino, file_mtime: the inode number and modification time
-- (nanoseconds since the epoch) of the profile file just after it was
-- written; file_ctime: its change time (nanoseconds, the file system's
-- own clock) just after the run linked it into OUT/current/, its last
-- link; a rerun that reads a file and finds it intact records what it
-- is like then.  NULL when not known.  A file that still has its recorded
-- inode, size, modification time and change time has not been written,
-- renamed over, linked or had its mode or times changed since (each of
-- these sets the change time); any other file is read and its digest
-- checked.

ALTER TABLE profiles ADD COLUMN file_ino INTEGER;
ALTER TABLE profiles ADD COLUMN file_mtime INTEGER;
ALTER TABLE profiles ADD COLUMN file_ctime INTEGER;
