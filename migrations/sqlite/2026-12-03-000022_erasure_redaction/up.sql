-- Erasure (UK GDPR) clears the free text written about a person: the reasons in their
-- bookings' history and the notes in their attendance history. Both tables stay append-only
-- for everything else: the one change the triggers allow is replacing that text with the
-- marker '[erased]' once the booking's person is erased, every other column unchanged.
DROP TRIGGER booking_history_no_update;
CREATE TRIGGER booking_history_no_update BEFORE UPDATE ON booking_history
WHEN NOT (
    NEW.id IS OLD.id AND NEW.booking_id IS OLD.booking_id AND NEW.at IS OLD.at
    AND NEW.actor_id IS OLD.actor_id AND NEW.from_status IS OLD.from_status
    AND NEW.to_status IS OLD.to_status AND NEW.note IS OLD.note
    AND NEW.reason = '[erased]'
    AND EXISTS (SELECT 1 FROM bookings b JOIN people p ON p.id = b.person_id
                WHERE b.id = OLD.booking_id AND p.erased_at IS NOT NULL)
)
BEGIN
    SELECT RAISE(ABORT, 'booking_history is append-only');
END;

DROP TRIGGER attendance_history_no_update;
CREATE TRIGGER attendance_history_no_update BEFORE UPDATE ON attendance_history
WHEN NOT (
    NEW.id IS OLD.id AND NEW.booking_id IS OLD.booking_id AND NEW.session_id IS OLD.session_id
    AND NEW.at IS OLD.at AND NEW.actor_id IS OLD.actor_id
    AND NEW.from_status IS OLD.from_status AND NEW.to_status IS OLD.to_status
    AND NEW.source IS OLD.source AND NEW.admin_override IS OLD.admin_override
    AND NEW.note = '[erased]'
    AND EXISTS (SELECT 1 FROM bookings b JOIN people p ON p.id = b.person_id
                WHERE b.id = OLD.booking_id AND p.erased_at IS NOT NULL)
)
BEGIN
    SELECT RAISE(ABORT, 'attendance_history is append-only');
END;
