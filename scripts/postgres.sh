# Source this: starts a PostgreSQL server for the tests that need one and exports
# ASSAY_TEST_POSTGRES_URL. Installs PostgreSQL from the OS packages when it is missing
# (Debian/Ubuntu, as root). Does nothing when ASSAY_TEST_POSTGRES_URL is already set.
if [ -z "${ASSAY_TEST_POSTGRES_URL:-}" ]; then
  if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "installing PostgreSQL from the OS packages" >&2
      apt-get update -qq >/dev/null && apt-get install -y -qq postgresql >/dev/null
    else
      echo "PostgreSQL is needed for the decision-log tests: install it, or set ASSAY_TEST_POSTGRES_URL" >&2
      return 1 2>/dev/null || exit 1
    fi
  fi
  pg_version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
  if ! pg_lsclusters -h | awk '{print $1, $2}' | grep -q "^${pg_version} main$"; then
    pg_createcluster "$pg_version" main >/dev/null
  fi
  if ! pg_lsclusters -h | grep "^${pg_version} *main" | grep -q online; then
    pg_ctlcluster "$pg_version" main start
  fi
  pg_port=$(pg_lsclusters -h | awk -v v="$pg_version" '$1 == v && $2 == "main" {print $3}')
  as_postgres() { su postgres -s /bin/sh -c "$1"; }
  as_postgres "psql -p $pg_port -tAc \"select 1 from pg_roles where rolname='assay'\"" | grep -q 1 \
    || as_postgres "psql -p $pg_port -qc \"create role assay login password 'assay'\""
  as_postgres "psql -p $pg_port -tAc \"select 1 from pg_database where datname='assay_test'\"" | grep -q 1 \
    || as_postgres "createdb -p $pg_port -O assay assay_test"
  export ASSAY_TEST_POSTGRES_URL="postgresql+psycopg://assay:assay@127.0.0.1:${pg_port}/assay_test"
fi
