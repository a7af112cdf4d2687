-- vmeter schema 9: rated rows without foreign keys.
--
-- bill_rated and bill_coverage are derived: the rater replaces a day's rows
-- whenever it rates the day again, from VM ids it has just read from the
-- usage tables and plan versions it has just stored, and nothing deletes a
-- vm or bill_version row.  Their foreign keys checked each row against vm
-- and bill_version and locked the row they found (FOR KEY SHARE): rating a
-- month of 1,000 VMs spent more time in those checks than in storing the
-- 340,000 rows (bench/billing.sh).  Invoices keep theirs: bill_invoiced,
-- bill_line and the rest still refer to what they bill.
ALTER TABLE bill_rated DROP CONSTRAINT bill_rated_vm_id_fkey, DROP CONSTRAINT bill_rated_version_id_fkey;
ALTER TABLE bill_coverage DROP CONSTRAINT bill_coverage_vm_id_fkey;
