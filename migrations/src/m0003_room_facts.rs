//! Room facts reported by media nodes (`MeetingStarted`, `ParticipantJoined`,
//! `ParticipantLeft`, `RoomLocked`, `RoomUnlocked`, `MeetingEnded`) are events with no
//! read model yet: the projection lets them through. The earlier projection keeps its
//! body under a new name and the dispatcher in front of it keeps the old name, so
//! `confer_append` and `confer_rebuild` call the new one unchanged.

use crate::SqlMigration;

pub(crate) const MIGRATION: SqlMigration = SqlMigration { name: "m0003_room_facts", up: UP, down: DOWN };

const UP: &str = r#"
ALTER FUNCTION confer_project(events, boolean) RENAME TO confer_project_read_models;

CREATE FUNCTION confer_project(e events, p_rebuilding boolean) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
  IF e.event_type IN ('MeetingStarted', 'ParticipantJoined', 'ParticipantLeft', 'RoomLocked', 'RoomUnlocked',
                      'MeetingEnded') THEN
    RETURN NULL;
  END IF;
  RETURN confer_project_read_models(e, p_rebuilding);
END $$;
"#;

const DOWN: &str = r#"
DROP FUNCTION confer_project(events, boolean);
ALTER FUNCTION confer_project_read_models(events, boolean) RENAME TO confer_project;
"#;
