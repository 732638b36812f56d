-- Schema version 6: a schedule's row is kept whole in its page, not
-- compressed. A row is about 2 KB (the state, the document and its
-- parameters), just over the size at which PostgreSQL compresses it with
-- pglz on every write; that compression was about a third of the time a
-- first start's INSERT took, and every fire writes the row again. Rows
-- take about a third more room; rows over 8 KB are still compressed.
ALTER TABLE scheduled_jobs SET (toast_tuple_target = 8160);
