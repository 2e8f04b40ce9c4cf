-- PostgreSQL announces changes to the other replicas (NOTIFY); SQLite serves
-- one process, which sees its own changes. Kept so both backends count the
-- same migrations.
SELECT 1;
