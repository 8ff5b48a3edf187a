-- 0012_schema_version_readable: a working process can tell whether the schema is the one its build
-- needs.
--
-- `cityos work` and `cityos run` read the newest applied migration at start and take no job until
-- the database has every migration their build ships: a worker deployed before `cityos migrate`
-- would otherwise run jobs against the old schema, each failing until its attempts were used up.

GRANT SELECT ON schema_migrations TO cityos_app, cityos_platform;
