CREATE OR REPLACE FUNCTION finshard._local_shards(p_step text)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_group   integer;
    v_changes integer := 0;
    v_shape   text;
    v_attach  boolean := p_step <> 'detach';
    v_busy    boolean := false;
    v_leaf    regclass;
    v_tables  text[];
    v_rels    text[];
    v_ddl     text[];
    v_stmt    text;
    v_parents text[];
    -- This node's active shards not attached yet, of shard groups whose every shard is here: a
    -- transfer's proof names the accounts shard, and the rest of its group must be attached with it.
    v_pending constant text := $q$
        SELECT s.shardid, c.relname, s.shardminvalue::integer AS lo, s.shardmaxvalue::integer AS hi,
               column_to_column_name(d.logicalrelid, d.partkey) AS dist_column,
               to_regclass('finshard.' || quote_ident(c.relname || '_' || s.shardid)) AS shard_rel
          FROM pg_dist_shard s
          JOIN pg_dist_placement p ON p.shardid = s.shardid AND p.groupid = $1 AND p.shardstate = 1
          JOIN pg_dist_partition d ON d.logicalrelid = s.logicalrelid AND d.partmethod = 'h'
          JOIN pg_catalog.pg_class c ON c.oid = s.logicalrelid
         WHERE c.relnamespace = 'finshard'::regnamespace AND c.relname = ANY ($2)
           AND NOT EXISTS (SELECT 1 FROM finshard_local.shards m WHERE m.shardid = s.shardid)
           AND NOT EXISTS (SELECT 1 FROM pg_dist_shard g
                             JOIN pg_dist_partition gd ON gd.logicalrelid = g.logicalrelid AND gd.colocationid = d.colocationid
                             JOIN pg_catalog.pg_class gc ON gc.oid = g.logicalrelid AND gc.relname = ANY ($2)
                            WHERE g.shardminvalue = s.shardminvalue
                              AND (to_regclass('finshard.' || quote_ident(gc.relname || '_' || g.shardid)) IS NULL
                                   OR NOT EXISTS (SELECT 1 FROM pg_dist_placement gp
                                                   WHERE gp.shardid = g.shardid AND gp.groupid = $1 AND gp.shardstate = 1)))
         ORDER BY s.shardid$q$;
    r         record;
BEGIN
    -- On a Citus node, finshard_local holds one plain table per distributed table the generated
    -- *_local functions name, partitioned by Citus' own hash of the distribution column, with this
    -- node's shards of it attached as its partitions, and one view per reference table over its
    -- shard here. A statement on them is planned by PostgreSQL alone and its plan cached
    -- (docs/citus-tax.md); _transfer_local and _match_orders_local run on them only after proving,
    -- under Citus' shard metadata lock, that the shards they need are the active ones and
    -- attached. Nothing here moves or copies data.
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus') THEN
        RETURN 0;
    END IF;
    IF p_step IS NULL OR p_step NOT IN ('detach', 'constrain', 'validate', 'attach') THEN
        PERFORM finshard.fail('FS005', format('step %s is not one of detach, constrain, validate, attach', p_step));
    END IF;
    -- Local objects: not propagated to other nodes, and Citus lets this node attach its shards.
    PERFORM set_config('citus.enable_ddl_propagation', 'off', true);
    PERFORM set_config('citus.enable_manual_changes_to_shards', 'on', true);
    PERFORM pg_advisory_xact_lock(hashtext('finshard._local_shards'));
    -- The job takes shard locks without queueing (_local_lock); an operator's detach (before an
    -- upgrade) waits for every transaction using the stand-ins, up to 3 s (autovacuum yields after 1 s).
    PERFORM set_config('lock_timeout', '3s', true);
    EXECUTE 'SELECT groupid FROM pg_dist_local_group' INTO v_group;
    -- The tables the generated statements name, and no others (a month partition detached for a
    -- while is a distributed table of its own meanwhile: it is not for the stand-ins to take).
    v_tables := ARRAY(SELECT DISTINCT m[1]
                        FROM pg_catalog.pg_proc p, regexp_matches(p.prosrc, 'finshard_local\.([a-z_]+)', 'g') AS m
                       WHERE p.pronamespace = 'finshard'::regnamespace AND p.proname LIKE '%\_local' AND m[1] <> 'shards');
    -- Only when missing: a change to the schema's row would reset every session's cached plans.
    IF to_regnamespace('finshard_local') IS NULL THEN
        CREATE SCHEMA finshard_local;
        REVOKE ALL ON SCHEMA finshard_local FROM PUBLIC;
        COMMENT ON SCHEMA finshard_local IS 'This node''s shards of the finshard tables, as partitions of plain tables (finshard._local_shards)';
    END IF;
    -- The shard relations attached here, by shard id: the proof the *_local functions read.
    CREATE TABLE IF NOT EXISTS finshard_local.shards (shardid bigint PRIMARY KEY, relid oid NOT NULL UNIQUE);
    -- Dropping a partitioned table drops its partitions: here, Citus' shards. Refused while any is attached.
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger WHERE evtname = 'finshard_local_keeps_shards') THEN
        CREATE EVENT TRIGGER finshard_local_keeps_shards ON sql_drop EXECUTE FUNCTION finshard._local_keeps_shards();
    END IF;

    -- Attaching checks every row of the shard against its hash range, under an ACCESS EXCLUSIVE
    -- lock; a validated CHECK of that range spares the scan. So the shards to attach get the CHECK
    -- first (NOT VALID: no scan), then have it validated (a scan that lets writes through), each
    -- step its own transaction (sync_local_shards); attaching drops it again (a CHECK costs every write).
    -- The CHECK goes on the leaf tables: Citus attaches a new month's partition to a shard, and a
    -- CHECK on the shard itself would refuse that partition.
    IF p_step IN ('constrain', 'validate') THEN
        FOR r IN EXECUTE v_pending USING v_group, v_tables LOOP
            CONTINUE WHEN r.shard_rel IS NULL;
            FOR v_leaf IN SELECT t.relid FROM pg_catalog.pg_partition_tree(r.shard_rel) t WHERE t.isleaf LOOP
                v_shape := (SELECT k.convalidated::text FROM pg_catalog.pg_constraint k
                             WHERE k.conrelid = v_leaf::oid AND k.conname = 'finshard_local_range');
                IF p_step = 'constrain' AND v_shape IS NULL THEN
                    v_rels := v_rels || v_leaf::text;
                    v_ddl := v_ddl || format('ALTER TABLE %s ADD CONSTRAINT finshard_local_range CHECK (hashint8(%I) BETWEEN %s AND %s) NOT VALID',
                                             v_leaf, r.dist_column, r.lo, r.hi);
                ELSIF p_step = 'validate' AND v_shape = 'false' THEN
                    -- SHARE UPDATE EXCLUSIVE: the scan lets reads and writes through.
                    EXECUTE format('ALTER TABLE %s VALIDATE CONSTRAINT finshard_local_range', v_leaf);
                    v_changes := v_changes + 1;
                END IF;
            END LOOP;
        END LOOP;
        -- Adding a CHECK, even NOT VALID, takes ACCESS EXCLUSIVE: every leaf at once, or none this run.
        IF cardinality(v_rels) > 0 THEN
            IF NOT finshard._local_lock(v_rels) THEN
                RAISE NOTICE 'shards busy: their range CHECKs wait for the next run';
                RETURN 0;
            END IF;
            FOREACH v_stmt IN ARRAY v_ddl LOOP
                EXECUTE v_stmt;
                v_changes := v_changes + 1;
            END LOOP;
        END IF;
        RETURN v_changes;
    END IF;

    -- 1. Detach what is no longer an active placement of this node (moved away, split, dropped),
    --    or everything when detaching (before DDL on distributed tables: finshard upgrade).
    FOR r IN EXECUTE $q$
        SELECT i.inhrelid AS part_oid, i.inhrelid::regclass::text AS part, i.inhparent::regclass::text AS parent
          FROM pg_catalog.pg_inherits i
          JOIN pg_catalog.pg_class c ON c.oid = i.inhparent AND c.relnamespace = 'finshard_local'::regnamespace
          LEFT JOIN finshard_local.shards m ON m.relid = i.inhrelid
         WHERE NOT $1 OR m.shardid IS NULL
            OR NOT EXISTS (SELECT 1 FROM pg_dist_placement p
                            WHERE p.shardid = m.shardid AND p.groupid = $2 AND p.shardstate = 1)$q$
        USING v_attach, v_group
    LOOP
        -- The job's detach (a shard that left) must not queue behind the node's transfers: when
        -- the stand-in stays busy, the shard stays attached, unused (the proof needs its
        -- placement here), until a later run or Citus' own drop of it. An operator's detach waits.
        IF v_attach AND NOT finshard._local_lock(ARRAY['ONLY ' || r.parent, r.part]) AND to_regclass(r.part) IS NOT NULL THEN
            RAISE NOTICE 'stand-in % busy: % stays attached, unused, until the next run', r.parent, r.part;
            v_busy := true;
            CONTINUE;
        END IF;
        PERFORM finshard._local_detach(r.parent, r.part);
        DELETE FROM finshard_local.shards WHERE relid = r.part_oid;
        v_changes := v_changes + 1;
    END LOOP;
    IF v_busy THEN
        -- A shard left attached may overlap the range of one to attach (a split): next run.
        RETURN v_changes;
    END IF;
    DELETE FROM finshard_local.shards m
     WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i WHERE i.inhrelid = m.relid);

    -- 2. Drop the stand-ins that do not match their table (a migration changed it) or that must go;
    --    a partitioned table is dropped only with no partition left (its partitions would go with it).
    FOR r IN
        SELECT c.oid::regclass AS rel, c.relkind, c.relname,
               finshard._local_shape(c.oid, c.relkind = 'p') AS shape,
               finshard._local_shape(to_regclass('finshard.' || quote_ident(c.relname)), c.relkind = 'p') AS wanted
          FROM pg_catalog.pg_class c
         WHERE c.relnamespace = 'finshard_local'::regnamespace AND c.relkind IN ('p', 'v')
    LOOP
        IF NOT v_attach OR r.wanted IS DISTINCT FROM r.shape OR NOT r.relname = ANY (v_tables) THEN
            IF r.relkind = 'p' THEN
                FOR v_leaf IN SELECT i.inhrelid FROM pg_catalog.pg_inherits i WHERE i.inhparent = r.rel::oid LOOP
                    DELETE FROM finshard_local.shards WHERE relid = v_leaf::oid;
                    PERFORM finshard._local_detach(r.rel::text, v_leaf::text);
                END LOOP;
                EXECUTE format('DROP TABLE %s', r.rel);
            ELSE
                EXECUTE format('DROP VIEW %s', r.rel);
            END IF;
            v_changes := v_changes + 1;
        END IF;
    END LOOP;
    IF NOT v_attach THEN
        -- And the range CHECKs of shards that were validated but never attached (the job found
        -- them busy): the tables go back to what Citus made, before an upgrade changes them.
        FOR v_leaf IN SELECT k.conrelid::regclass FROM pg_catalog.pg_constraint k
                        JOIN pg_catalog.pg_class c ON c.oid = k.conrelid AND c.relnamespace = 'finshard'::regnamespace
                       WHERE k.conname = 'finshard_local_range' AND k.contype = 'c' LOOP
            EXECUTE format('ALTER TABLE %s DROP CONSTRAINT finshard_local_range', v_leaf);
            v_changes := v_changes + 1;
        END LOOP;
        RETURN v_changes;
    END IF;

    -- 3. The stand-ins: a partitioned table per hash-distributed table (its defaults too: shard
    --    relations have no sequence defaults), a view per reference table.
    FOR r IN EXECUTE $q$
        SELECT c.relname, column_to_column_name(d.logicalrelid, d.partkey) AS dist_column, d.partmethod,
               (SELECT s.shardid FROM pg_dist_shard s WHERE s.logicalrelid = d.logicalrelid LIMIT 1) AS ref_shard
          FROM pg_dist_partition d
          JOIN pg_catalog.pg_class c ON c.oid = d.logicalrelid
         WHERE c.relnamespace = 'finshard'::regnamespace AND c.relname = ANY ($1)
           AND (d.partmethod = 'h' OR (d.partmethod = 'n' AND d.repmodel = 't'))$q$
        USING v_tables
    LOOP
        IF to_regclass('finshard_local.' || quote_ident(r.relname)) IS NOT NULL THEN
            CONTINUE;
        ELSIF r.partmethod = 'h' THEN
            EXECUTE format('CREATE TABLE finshard_local.%I (LIKE finshard.%I INCLUDING DEFAULTS) PARTITION BY RANGE (hashint8(%I))',
                           r.relname, r.relname, r.dist_column);
        ELSE
            EXECUTE format('CREATE VIEW finshard_local.%I AS SELECT * FROM finshard.%I', r.relname, r.relname || '_' || r.ref_shard);
        END IF;
        v_changes := v_changes + 1;
    END LOOP;

    -- 4. Attach this node's active placements that are not attached, with their hash ranges:
    --    every shard to attach locked at once (and its stand-in, SHARE UPDATE EXCLUSIVE), or none this run.
    EXECUTE format('SELECT array_agg(p.shard_rel::text), array_agg(DISTINCT %L || quote_ident(p.relname)) FROM (%s) p '
                   'WHERE p.shard_rel IS NOT NULL', 'ONLY finshard_local.', v_pending)
       INTO v_rels, v_parents USING v_group, v_tables;
    IF cardinality(v_rels) > 0 AND NOT finshard._local_lock(v_rels, v_parents) THEN
        RAISE NOTICE 'shards busy: they attach on the next run';
        RETURN v_changes;
    END IF;
    FOR r IN EXECUTE v_pending USING v_group, v_tables
    LOOP
        CONTINUE WHEN r.shard_rel IS NULL;
        EXECUTE format('ALTER TABLE finshard_local.%I ATTACH PARTITION %s FOR VALUES FROM (%s) TO (%s)',
                       r.relname, r.shard_rel, r.lo,
                       CASE WHEN r.hi = 2147483647 THEN 'MAXVALUE' ELSE (r.hi::bigint + 1)::text END);
        FOR v_leaf IN SELECT t.relid FROM pg_catalog.pg_partition_tree(r.shard_rel) t WHERE t.isleaf LOOP
            EXECUTE format('ALTER TABLE %s DROP CONSTRAINT IF EXISTS finshard_local_range', v_leaf);
        END LOOP;
        INSERT INTO finshard_local.shards (shardid, relid) VALUES (r.shardid, r.shard_rel::oid);
        v_changes := v_changes + 1;
    END LOOP;
    RETURN v_changes;
END
$$;
COMMENT ON FUNCTION finshard._local_shards(text) IS 'On a Citus node, one step of sync_local_shards: attach (this node''s active shards of the tables the generated _local functions name as partitions of finshard_local stand-ins, and views of the reference tables, detaching those it no longer holds), constrain and validate (the hash-range CHECK that spares attach a locked scan), or detach (all, dropping the stand-ins). Returns the changes';
REVOKE ALL ON FUNCTION finshard._local_shards(text) FROM PUBLIC;
