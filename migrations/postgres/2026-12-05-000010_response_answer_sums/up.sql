-- What each response's answers add to the impact figures, kept on the response so that
-- reports release whole responses without reading every answer: the confidence shift (after
-- minus before) summed over its retrospective pairs, how many pairs it has, and how many
-- answers it gave at each of Guskey's five levels. The triggers keep them equal to the sums
-- of the answers whoever writes them; erasure clears only free text, which they do not read.
ALTER TABLE evaluation_responses
    ADD COLUMN confidence_shift INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN confidence_pairs INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN guskey1_answers  INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN guskey2_answers  INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN guskey3_answers  INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN guskey4_answers  INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN guskey5_answers  INTEGER NOT NULL DEFAULT 0;

    UPDATE evaluation_responses r
       SET confidence_shift = r.confidence_shift + a.shift,
           confidence_pairs = r.confidence_pairs + a.pairs,
           guskey1_answers = r.guskey1_answers + a.g1,
           guskey2_answers = r.guskey2_answers + a.g2,
           guskey3_answers = r.guskey3_answers + a.g3,
           guskey4_answers = r.guskey4_answers + a.g4,
           guskey5_answers = r.guskey5_answers + a.g5
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
     WHERE r.id = a.response_id;

-- Once per statement over its changed rows, so bulk loads stay cheap: inserted answers add
-- to their responses, deleted ones take away, updated ones take away the old and add the new.
CREATE FUNCTION report_answer_sums_changed() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE evaluation_responses r
           SET confidence_shift = r.confidence_shift + a.shift,
               confidence_pairs = r.confidence_pairs + a.pairs,
               guskey1_answers = r.guskey1_answers + a.g1,
               guskey2_answers = r.guskey2_answers + a.g2,
               guskey3_answers = r.guskey3_answers + a.g3,
               guskey4_answers = r.guskey4_answers + a.g4,
               guskey5_answers = r.guskey5_answers + a.g5
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
                  FROM new_rows
                 GROUP BY response_id) a
         WHERE r.id = a.response_id;
    ELSE
        UPDATE evaluation_responses r
           SET confidence_shift = r.confidence_shift - a.shift,
               confidence_pairs = r.confidence_pairs - a.pairs,
               guskey1_answers = r.guskey1_answers - a.g1,
               guskey2_answers = r.guskey2_answers - a.g2,
               guskey3_answers = r.guskey3_answers - a.g3,
               guskey4_answers = r.guskey4_answers - a.g4,
               guskey5_answers = r.guskey5_answers - a.g5
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
                  FROM old_rows
                 GROUP BY response_id) a
         WHERE r.id = a.response_id;
    END IF;
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE FUNCTION report_answer_sums_updated() RETURNS trigger AS $$
BEGIN
    UPDATE evaluation_responses r
       SET confidence_shift = r.confidence_shift - a.shift,
           confidence_pairs = r.confidence_pairs - a.pairs,
           guskey1_answers = r.guskey1_answers - a.g1,
           guskey2_answers = r.guskey2_answers - a.g2,
           guskey3_answers = r.guskey3_answers - a.g3,
           guskey4_answers = r.guskey4_answers - a.g4,
           guskey5_answers = r.guskey5_answers - a.g5
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
              FROM old_rows
             GROUP BY response_id) a
     WHERE r.id = a.response_id;
    UPDATE evaluation_responses r
       SET confidence_shift = r.confidence_shift + a.shift,
           confidence_pairs = r.confidence_pairs + a.pairs,
           guskey1_answers = r.guskey1_answers + a.g1,
           guskey2_answers = r.guskey2_answers + a.g2,
           guskey3_answers = r.guskey3_answers + a.g3,
           guskey4_answers = r.guskey4_answers + a.g4,
           guskey5_answers = r.guskey5_answers + a.g5
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
              FROM new_rows
             GROUP BY response_id) a
     WHERE r.id = a.response_id;
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE TRIGGER report_answer_sums_insert AFTER INSERT ON evaluation_answers
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION report_answer_sums_changed();
CREATE TRIGGER report_answer_sums_delete AFTER DELETE ON evaluation_answers
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION report_answer_sums_changed();
CREATE TRIGGER report_answer_sums_update AFTER UPDATE ON evaluation_answers
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION report_answer_sums_updated();
