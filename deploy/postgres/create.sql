-- deploy/postgres/create.sql - the database and the two roles of the connectors' shared state
-- (docs/scale-out.md). Run once, as a PostgreSQL superuser, on the server the replicas share:
--
--   psql -v ON_ERROR_STOP=1 -f create.sql                     (names: anode, anode_admin)
--   psql -v ON_ERROR_STOP=1 -v db=mydb -v admin=myadmin -v app=myapp -f create.sql
--
-- then give each role a password (psql: \password anode_admin, \password anode) or a client
-- certificate, and allow them in pg_hba.conf (hostssl ... scram-sha-256 or cert).
--
--   admin (anode_admin): owns the schema "anode"; `anode-connector --config F --migrate` runs as
--          this role, once per upgrade (state.url names it in that run's config only).
--   app   (anode):       what every replica connects as, with "migrate": false in "state":
--          reads and writes the rows, runs the functions, creates nothing.
-- Tested by tests/e2e/state/state_pm_caps.mjs (migrate as admin, three replicas as app).
\if :{?db}
\else
\set db anode
\endif
\if :{?admin}
\else
\set admin anode_admin
\endif
\if :{?app}
\else
\set app anode
\endif

CREATE ROLE :"admin" LOGIN;
CREATE ROLE :"app" LOGIN;
CREATE DATABASE :"db" OWNER :"admin";
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"db" TO :"app";

\connect :"db"
-- The migration creates its objects in this schema ("CREATE SCHEMA IF NOT EXISTS anode").
CREATE SCHEMA anode AUTHORIZATION :"admin";
GRANT USAGE ON SCHEMA anode TO :"app";
-- What the admin role creates later is usable by the app role (rows and functions only).
ALTER DEFAULT PRIVILEGES FOR ROLE :"admin" IN SCHEMA anode
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app";
ALTER DEFAULT PRIVILEGES FOR ROLE :"admin" IN SCHEMA anode GRANT USAGE ON SEQUENCES TO :"app";
ALTER DEFAULT PRIVILEGES FOR ROLE :"admin" IN SCHEMA anode GRANT EXECUTE ON FUNCTIONS TO :"app";
