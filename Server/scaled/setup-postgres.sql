-- Run once as the postgres superuser:  sudo -u postgres psql -f Server/scaled/setup-postgres.sql
-- Then set the password:               sudo -u postgres psql -c "\password kontor"
CREATE ROLE kontor LOGIN;
CREATE DATABASE kontor OWNER kontor ENCODING 'UTF8' TEMPLATE template0;
-- kontor-server creates and migrates its tables itself (in the public schema of this database).
