-- What each response's answers add to the impact figures, kept on the response so that
-- reports release whole responses without reading every answer: the confidence shift (after
-- minus before) summed over its retrospective pairs, how many pairs it has, and how many
-- answers it gave at each of Guskey's five levels. The triggers keep them equal to the sums
-- of the answers whoever writes them; erasure clears only free text, which they do not read.
ALTER TABLE evaluation_responses ADD COLUMN confidence_shift INTEGER NOT NULL DEFAULT 0;
ALTER TABLE evaluation_responses ADD COLUMN confidence_pairs INTEGER NOT NULL DEFAULT 0;
ALTER TABLE evaluation_responses ADD COLUMN guskey1_answers INTEGER NOT NULL DEFAULT 0;
ALTER TABLE evaluation_responses ADD COLUMN guskey2_answers INTEGER NOT NULL DEFAULT 0;
ALTER TABLE evaluation_responses ADD COLUMN guskey3_answers INTEGER NOT NULL DEFAULT 0;
ALTER TABLE evaluation_responses ADD COLUMN guskey4_answers INTEGER NOT NULL DEFAULT 0;
ALTER TABLE evaluation_responses ADD COLUMN guskey5_answers INTEGER NOT NULL DEFAULT 0;

UPDATE evaluation_responses
   SET confidence_shift = a.shift, confidence_pairs = a.pairs,
       guskey1_answers = a.g1, guskey2_answers = a.g2, guskey3_answers = a.g3,
       guskey4_answers = a.g4, guskey5_answers = a.g5
  FROM (SELECT response_id,
                   SUM(CASE WHEN before_rating IS NOT NULL AND after_rating IS NOT NULL
                            THEN after_rating - before_rating ELSE 0 END) AS shift,
                   SUM(CASE WHEN before_rating IS NOT NULL AND after_rating IS NOT NULL
                            THEN 1 ELSE 0 END) AS pairs,
                   SUM(CASE WHEN guskey_level = 1 THEN 1 ELSE 0 END) AS g1,
                   SUM(CASE WHEN guskey_level = 2 THEN 1 ELSE 0 END) AS g2,
                   SUM(CASE WHEN guskey_level = 3 THEN 1 ELSE 0 END) AS g3,
                   SUM(CASE WHEN guskey_level = 4 THEN 1 ELSE 0 END) AS g4,
                   SUM(CASE WHEN guskey_level = 5 THEN 1 ELSE 0 END) AS g5
              FROM evaluation_answers
             GROUP BY response_id) a
 WHERE evaluation_responses.id = a.response_id;

-- Inserted answers add to their responses, deleted ones take away, updated ones take away
-- the old and add the new (only when a column read here changes: erasure's cleared text
-- does not).
CREATE TRIGGER report_answer_sums_insert AFTER INSERT ON evaluation_answers BEGIN
    UPDATE evaluation_responses
       SET confidence_shift = confidence_shift + CASE WHEN NEW.before_rating IS NOT NULL AND NEW.after_rating IS NOT NULL
                                                     THEN NEW.after_rating - NEW.before_rating ELSE 0 END,
           confidence_pairs = confidence_pairs + CASE WHEN NEW.before_rating IS NOT NULL AND NEW.after_rating IS NOT NULL THEN 1 ELSE 0 END,
           guskey1_answers = guskey1_answers + CASE WHEN NEW.guskey_level = 1 THEN 1 ELSE 0 END,
           guskey2_answers = guskey2_answers + CASE WHEN NEW.guskey_level = 2 THEN 1 ELSE 0 END,
           guskey3_answers = guskey3_answers + CASE WHEN NEW.guskey_level = 3 THEN 1 ELSE 0 END,
           guskey4_answers = guskey4_answers + CASE WHEN NEW.guskey_level = 4 THEN 1 ELSE 0 END,
           guskey5_answers = guskey5_answers + CASE WHEN NEW.guskey_level = 5 THEN 1 ELSE 0 END
     WHERE id = NEW.response_id;
END;
CREATE TRIGGER report_answer_sums_delete AFTER DELETE ON evaluation_answers BEGIN
    UPDATE evaluation_responses
       SET confidence_shift = confidence_shift - CASE WHEN OLD.before_rating IS NOT NULL AND OLD.after_rating IS NOT NULL
                                                     THEN OLD.after_rating - OLD.before_rating ELSE 0 END,
           confidence_pairs = confidence_pairs - CASE WHEN OLD.before_rating IS NOT NULL AND OLD.after_rating IS NOT NULL THEN 1 ELSE 0 END,
           guskey1_answers = guskey1_answers - CASE WHEN OLD.guskey_level = 1 THEN 1 ELSE 0 END,
           guskey2_answers = guskey2_answers - CASE WHEN OLD.guskey_level = 2 THEN 1 ELSE 0 END,
           guskey3_answers = guskey3_answers - CASE WHEN OLD.guskey_level = 3 THEN 1 ELSE 0 END,
           guskey4_answers = guskey4_answers - CASE WHEN OLD.guskey_level = 4 THEN 1 ELSE 0 END,
           guskey5_answers = guskey5_answers - CASE WHEN OLD.guskey_level = 5 THEN 1 ELSE 0 END
     WHERE id = OLD.response_id;
END;
CREATE TRIGGER report_answer_sums_update
AFTER UPDATE OF response_id, guskey_level, before_rating, after_rating ON evaluation_answers BEGIN
    UPDATE evaluation_responses
       SET confidence_shift = confidence_shift - CASE WHEN OLD.before_rating IS NOT NULL AND OLD.after_rating IS NOT NULL
                                                     THEN OLD.after_rating - OLD.before_rating ELSE 0 END,
           confidence_pairs = confidence_pairs - CASE WHEN OLD.before_rating IS NOT NULL AND OLD.after_rating IS NOT NULL THEN 1 ELSE 0 END,
           guskey1_answers = guskey1_answers - CASE WHEN OLD.guskey_level = 1 THEN 1 ELSE 0 END,
           guskey2_answers = guskey2_answers - CASE WHEN OLD.guskey_level = 2 THEN 1 ELSE 0 END,
           guskey3_answers = guskey3_answers - CASE WHEN OLD.guskey_level = 3 THEN 1 ELSE 0 END,
           guskey4_answers = guskey4_answers - CASE WHEN OLD.guskey_level = 4 THEN 1 ELSE 0 END,
           guskey5_answers = guskey5_answers - CASE WHEN OLD.guskey_level = 5 THEN 1 ELSE 0 END
     WHERE id = OLD.response_id;
    UPDATE evaluation_responses
       SET confidence_shift = confidence_shift + CASE WHEN NEW.before_rating IS NOT NULL AND NEW.after_rating IS NOT NULL
                                                     THEN NEW.after_rating - NEW.before_rating ELSE 0 END,
           confidence_pairs = confidence_pairs + CASE WHEN NEW.before_rating IS NOT NULL AND NEW.after_rating IS NOT NULL THEN 1 ELSE 0 END,
           guskey1_answers = guskey1_answers + CASE WHEN NEW.guskey_level = 1 THEN 1 ELSE 0 END,
           guskey2_answers = guskey2_answers + CASE WHEN NEW.guskey_level = 2 THEN 1 ELSE 0 END,
           guskey3_answers = guskey3_answers + CASE WHEN NEW.guskey_level = 3 THEN 1 ELSE 0 END,
           guskey4_answers = guskey4_answers + CASE WHEN NEW.guskey_level = 4 THEN 1 ELSE 0 END,
           guskey5_answers = guskey5_answers + CASE WHEN NEW.guskey_level = 5 THEN 1 ELSE 0 END
     WHERE id = NEW.response_id;
END;
