CREATE OR REPLACE FUNCTION finshard._dispatcher_key()
RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    -- IMMUTABLE and one expression: inlined and folded to a constant where it is used.
    SELECT hashtext('finshard.notification_dispatcher')::bigint
$$;
COMMENT ON FUNCTION finshard._dispatcher_key() IS 'The advisory lock a registered notification dispatcher holds for its session (register_dispatcher); notify_delivery auto defers while it is held';
REVOKE ALL ON FUNCTION finshard._dispatcher_key() FROM PUBLIC;
