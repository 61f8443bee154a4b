//! [`Ts`]: how a time is bound on each backend.
//!
//! SQLite has no time type: times are stored as the text `findings::ts`
//! writes (fixed-width RFC 3339 with milliseconds and `Z`), so comparing the
//! text compares the times, and databases written before PostgreSQL support
//! keep working unchanged. PostgreSQL stores a native `timestamptz`,
//! truncated to milliseconds like the text, so both backends compare and
//! round-trip a time the same way.
//!
//! Reads decode straight into `DateTime<Utc>`, which sqlx decodes from either
//! (the text on SQLite, `timestamptz` on PostgreSQL); `Ts` decodes too, for
//! symmetry.

use chrono::{DateTime, SubsecRound, Utc};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef};
use sqlx::sqlite::{SqliteArgumentValue, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Decode, Encode, Postgres, Sqlite, Type};

use crate::findings::ts;

/// A time bound to a query: RFC 3339 text on SQLite, `timestamptz` on PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ts(pub DateTime<Utc>);

impl Type<Sqlite> for Ts {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }

    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <DateTime<Utc> as Type<Sqlite>>::compatible(ty)
    }
}

impl<'q> Encode<'q, Sqlite> for Ts {
    fn encode_by_ref(&self, buf: &mut Vec<SqliteArgumentValue<'q>>) -> Result<IsNull, BoxDynError> {
        <String as Encode<'q, Sqlite>>::encode(ts(self.0), buf)
    }
}

impl<'r> Decode<'r, Sqlite> for Ts {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        <DateTime<Utc> as Decode<'r, Sqlite>>::decode(value).map(Ts)
    }
}

impl Type<Postgres> for Ts {
    fn type_info() -> PgTypeInfo {
        <DateTime<Utc> as Type<Postgres>>::type_info()
    }

    fn compatible(ty: &PgTypeInfo) -> bool {
        <DateTime<Utc> as Type<Postgres>>::compatible(ty)
    }
}

impl Encode<'_, Postgres> for Ts {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        // Milliseconds, as the SQLite text keeps: a time written and read back
        // compares equal to the same time written on either backend.
        <DateTime<Utc> as Encode<'_, Postgres>>::encode(self.0.trunc_subsecs(3), buf)
    }
}

impl<'r> Decode<'r, Postgres> for Ts {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        <DateTime<Utc> as Decode<'r, Postgres>>::decode(value).map(Ts)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::store::{Backend, Store};

    #[tokio::test]
    async fn a_time_round_trips_at_millisecond_precision_and_sqlite_keeps_its_text() {
        let s = Store::open_memory().await.unwrap();
        let mut db = s.conn().await.unwrap();
        let t = Utc.with_ymd_and_hms(2026, 3, 4, 5, 6, 7).unwrap()
            + chrono::Duration::nanoseconds(123_456_789);
        run!(
            execute,
            db,
            sqlx::query("INSERT INTO schedule (key, last_at) VALUES ('k', $1)").bind(Ts(t))
        )
        .unwrap();
        let back: DateTime<Utc> = run!(
            fetch_one,
            db,
            sqlx::query_scalar("SELECT last_at FROM schedule WHERE key = 'k'")
        )
        .unwrap();
        assert_eq!(back, t.trunc_subsecs(3));
        let as_ts: Ts = run!(
            fetch_one,
            db,
            sqlx::query_scalar("SELECT last_at FROM schedule WHERE last_at = $1").bind(Ts(t))
        )
        .unwrap();
        assert_eq!(as_ts, Ts(t.trunc_subsecs(3)));
        if s.backend() == Backend::Sqlite {
            let text: String = run!(
                fetch_one,
                db,
                sqlx::query_scalar("SELECT last_at FROM schedule WHERE key = 'k'")
            )
            .unwrap();
            assert_eq!(text, "2026-03-04T05:06:07.123Z");
        }
    }
}
