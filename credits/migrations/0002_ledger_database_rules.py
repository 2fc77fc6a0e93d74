from django.db import migrations

from config.db import PostgresOnlySQL, append_only

LEDGER_CHAIN = """
CREATE OR REPLACE FUNCTION credits_ledger_check_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    previous numeric;
BEGIN
    SELECT balance_after INTO previous FROM credits_creditledgerentry
        WHERE account_id = NEW.account_id ORDER BY id DESC LIMIT 1;
    IF NEW.balance_after <> COALESCE(previous, 0) + NEW.amount THEN
        RAISE EXCEPTION 'ledger chain broken for account %: % + % <> %',
            NEW.account_id, COALESCE(previous, 0), NEW.amount, NEW.balance_after USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER credits_ledger_chain BEFORE INSERT ON credits_creditledgerentry
    FOR EACH ROW EXECUTE FUNCTION credits_ledger_check_chain();

CREATE OR REPLACE FUNCTION credits_verify_balance(target uuid) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    cached numeric;
    latest numeric;
BEGIN
    SELECT balance INTO cached FROM credits_creditaccount WHERE agent_id = target;
    SELECT balance_after INTO latest FROM credits_creditledgerentry
        WHERE account_id = target ORDER BY id DESC LIMIT 1;
    IF cached IS DISTINCT FROM COALESCE(latest, 0) THEN
        RAISE EXCEPTION 'balance of account % is % but its ledger ends at %', target, cached, COALESCE(latest, 0)
            USING ERRCODE = 'check_violation';
    END IF;
END $$;
CREATE OR REPLACE FUNCTION credits_account_balance_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM credits_verify_balance(NEW.agent_id);
    RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION credits_entry_balance_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM credits_verify_balance(NEW.account_id);
    RETURN NULL;
END $$;
-- Checked at commit: the balance and its ledger move together in one transaction.
CREATE CONSTRAINT TRIGGER credits_account_balance_matches_ledger
    AFTER INSERT OR UPDATE OF balance ON credits_creditaccount
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION credits_account_balance_trigger();
CREATE CONSTRAINT TRIGGER credits_entry_balance_matches_ledger
    AFTER INSERT ON credits_creditledgerentry
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION credits_entry_balance_trigger();
"""

LEDGER_CHAIN_REVERSE = """
DROP TRIGGER IF EXISTS credits_ledger_chain ON credits_creditledgerentry;
DROP TRIGGER IF EXISTS credits_account_balance_matches_ledger ON credits_creditaccount;
DROP TRIGGER IF EXISTS credits_entry_balance_matches_ledger ON credits_creditledgerentry;
DROP FUNCTION IF EXISTS credits_ledger_check_chain();
DROP FUNCTION IF EXISTS credits_account_balance_trigger();
DROP FUNCTION IF EXISTS credits_entry_balance_trigger();
DROP FUNCTION IF EXISTS credits_verify_balance(uuid);
"""


class Migration(migrations.Migration):
    dependencies = [("credits", "0001_initial")]

    operations = [
        append_only("credits_creditledgerentry"),
        PostgresOnlySQL(sql=LEDGER_CHAIN, reverse_sql=LEDGER_CHAIN_REVERSE),
    ]
