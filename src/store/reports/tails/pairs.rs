//! The released sums of a place (a school or a cluster) by staff group over one academic
//! year, from its schools' staff groups' kept tails.

use super::kept::{newest_rows, Candidate};
use super::*;

/// Where a school's responses fall in a pair's place: the school itself, or its cluster.
pub(super) struct Places<'c> {
    /// Each school's cluster, when the place is a cluster.
    cluster_of: Option<FastMap<&'c str, &'c str>>,
}

impl<'c> Places<'c> {
    pub(super) fn new(place_level: GroupBy, clusters: &'c [(String, String)]) -> Self {
        let cluster_of = (place_level == GroupBy::Cluster).then(|| {
            clusters
                .iter()
                .map(|(school, cluster)| (school.as_str(), cluster.as_str()))
                .collect()
        });
        Places { cluster_of }
    }

    /// The place of `school` (a kept key: '' or `NONE_KEY` for none); `None` for a school
    /// the alliance no longer lists, which is in no cluster's pairs.
    fn of<'s>(&self, school: &'s str) -> Option<&'s str>
    where
        'c: 's,
    {
        if school.is_empty() || school == NONE_KEY {
            // Responses without a school are in the group of no school, or of no cluster.
            return Some(NONE_KEY);
        }
        match &self.cluster_of {
            Some(map) => map.get(school).copied(),
            None => Some(school),
        }
    }

    /// The pair a kept staff-group row of `school` and `group` (kept keys: '' for none) goes
    /// to, as `pair_sums` keys its pairs: the school's place and the staff group (`NONE_KEY`
    /// for none); `None` for a school the alliance no longer lists.
    fn pair<'s>(&self, school: &'s str, group: &'s str) -> Option<(&'s str, &'s str)>
    where
        'c: 's,
    {
        let group = if group.is_empty() { NONE_KEY } else { group };
        Some((self.of(school)?, group))
    }
}

/// The released sums of the pairs of `second` (a place by staff group, the place first when
/// `place_first`, over academic year `year`): each pair's sums less its tail, the latest
/// `n mod k` of its responses of each kind. A pair's latest responses are the latest among
/// its schools' staff group's, so one pass over the year's kept staff-group rows finds them:
/// each row goes to the one pair its school's place and its staff group make, and only as
/// many entries as that pair's tail are read from it, in place. Rows that cannot answer (a
/// school marked since it was kept, or a row not as deep as a threshold above the smallest
/// asks) are looked up in the responses' index instead, as a unit of one school's staff group.
pub(super) fn pair_sums<C: Figures>(
    conn: &mut DbConn,
    year: i32,
    t: Threshold,
    second: &BTreeMap<(String, String), C>,
    place_first: bool,
    places: &Places,
) -> QueryResult<HashMap<(String, String), ReleasedSums>> {
    let mut out: HashMap<(String, String), ReleasedSums> = second
        .iter()
        .map(|(key, c)| (key.clone(), c.all_sums()))
        .collect();
    // The pairs with a tail, by place and staff group: the pair's key, its tail lengths, and
    // (filled below) its latest entries of each kind.
    // Each pair is numbered, for `pair_rows`.
    type Pair<'r, 'e> = (
        &'r (String, String),
        [usize; 2],
        [Vec<EntryRef<'e>>; 2],
        usize,
    );
    let mut pairs: FastMap<(&str, &str), Pair> = FastMap::default();
    for (key, c) in second {
        let lens = tail_len(t, c.responses());
        if lens.iter().all(|&n| n == 0) {
            continue;
        }
        let (place, group) = if place_first {
            (&key.0, &key.1)
        } else {
            (&key.1, &key.0)
        };
        let number = pairs.len();
        pairs.insert(
            (place.as_str(), group.as_str()),
            (key, lens, Default::default(), number),
        );
    }
    if pairs.is_empty() {
        return Ok(out);
    }
    let marked = marked_schools(conn, year)?;
    // The units to look up (a school's staff group, keyed as `probe` takes them), with
    // how deep, per kind.
    let mut left: HashMap<String, [usize; 2]> = HashMap::new();
    let unit = |school: &str, group: &str| {
        let school = if school.is_empty() { NONE_KEY } else { school };
        pair_key(school, group)
    };
    // A marked school's every staff group with a tail is looked up.
    if !marked.is_empty() {
        let mut by_place: HashMap<&str, Vec<(&str, [usize; 2])>> = HashMap::new();
        for (&(place, group), (_, lens, _, _)) in &pairs {
            by_place.entry(place).or_default().push((group, *lens));
        }
        for school in &marked {
            let Some(place) = places.of(school) else {
                continue;
            };
            for (group, lens) in by_place.get(place).map_or(&[][..], Vec::as_slice) {
                left.insert(unit(school, group), *lens);
            }
        }
    }
    let rows = pair_rows(conn, year, places, &marked, pairs.len(), |place, group| {
        pairs.get(&(place, group)).map(|p| (p.3, p.1))
    })?;
    for r in &rows {
        if marked.contains(&r.school_key) {
            continue;
        }
        let Some(pair) = places.pair(&r.school_key, &r.staff_group_key) else {
            continue;
        };
        let group = pair.1;
        let Some((_, lens, latest, _)) = pairs.get_mut(&pair) else {
            continue;
        };
        let i = usize::from(r.kind != 0);
        let d = lens[i];
        if d == 0 {
            continue;
        }
        let list = &mut latest[i];
        let before = list.len();
        match unpack_into(&r.entries, d, list) {
            Some(n) if deep_enough(n, d, r.responses) => {}
            _ => {
                list.truncate(before);
                left.entry(unit(&r.school_key, group)).or_default()[i] = d;
            }
        }
    }
    let units: Vec<(&str, [usize; 2])> = left.iter().map(|(u, d)| (u.as_str(), *d)).collect();
    let probed = if units.is_empty() {
        Vec::new()
    } else {
        probe(conn, By::SchoolGroup, Some(year), &units, t)?
    };
    for row in &probed {
        let (school, group) = split_pair(&row.unit);
        let Some(place) = places.of(school) else {
            continue;
        };
        if let Some((_, _, latest, _)) = pairs.get_mut(&(place, group)) {
            latest[row.kind_index()].push(row.entry.as_ref());
        }
    }
    // Each pair's sums less its latest, as many as its tail.
    for (key, lens, mut latest, _) in pairs.into_values() {
        let Some(sums) = out.get_mut(key) else {
            continue;
        };
        take_newest(&mut latest, lens, sums);
    }
    Ok(out)
}

/// The year's kept staff-group rows that can hold some pair's tail (`lens` gives a pair's
/// number, below `n_pairs`, and tail lengths by place and staff group; `None` for a pair
/// without a tail).
///
/// When the place is a school, a pair is one row, and every row is read. When it is a
/// cluster, a pair has a row per school of the cluster (about 160 at national size) and only
/// its newest few can hold its tail. So every row's newest time is read first (`newest`, which
/// PostgreSQL reads from the key's index alone), and then in full only the rows whose newest
/// time is among their pair's `d` newest of that kind, ties kept. A row left out has at least
/// `d` rows whose newest entry is newer than every entry it holds, so none of its entries is
/// among the pair's latest `d`, however deep it is. A row whose newest time is not known is
/// read in full (and looked up in the index if that fails too). Marked schools' rows are left
/// out: they are looked up in the index. Both reads are in the report's one snapshot.
fn pair_rows(
    conn: &mut DbConn,
    year: i32,
    places: &Places,
    marked: &FastSet<String>,
    n_pairs: usize,
    lens: impl Fn(&str, &str) -> Option<(usize, [usize; 2])>,
) -> QueryResult<Vec<KeptGroupRow>> {
    let year_param = Param::Int(i64::from(year));
    if places.cluster_of.is_none() {
        return load(
            conn,
            &format!(
                "SELECT school_key, staff_group_key, {KIND_INDEX}, responses, entries
                   FROM report_school_group_tails WHERE course_year = $1"
            ),
            &[year_param],
        );
    }
    // On PostgreSQL from the key's index alone (it includes `newest`).
    let heads: Vec<KeptGroupHead> = load(
        conn,
        &format!(
            "SELECT school_key, staff_group_key, {KIND_INDEX}, newest
               FROM report_school_group_tails WHERE course_year = $1"
        ),
        std::slice::from_ref(&year_param),
    )?;
    let mut candidates: Vec<Candidate> = Vec::new();
    for (row, h) in heads.iter().enumerate() {
        if marked.contains(&h.school_key) {
            continue;
        }
        let Some((place, group)) = places.pair(&h.school_key, &h.staff_group_key) else {
            continue;
        };
        let Some((number, d)) = lens(place, group) else {
            continue;
        };
        let i = usize::from(h.kind != 0);
        if d[i] > 0 {
            candidates.push(Candidate {
                row,
                tail: 2 * number + i,
                d: d[i],
                newest: h.newest,
            });
        }
    }
    let wanted: Vec<serde_json::Value> = newest_rows(&candidates, 2 * n_pairs)
        .map(|c| {
            let h = &heads[c.row];
            serde_json::json!([h.school_key, h.staff_group_key, KINDS[c.tail % 2]])
        })
        .collect();
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let json = Param::Text(serde_json::Value::Array(wanted).to_string());
    // One look-up by primary key per row wanted.
    let sql = format!(
        "SELECT t.school_key, t.staff_group_key, {KIND_INDEX}, t.responses, t.entries
           FROM {elements} u
           JOIN report_school_group_tails t
             ON t.course_year = $2 AND t.school_key = u.value->>0
            AND t.staff_group_key = u.value->>1 AND t.kind = u.value->>2",
        elements = json_elements(conn.backend()),
    );
    load(conn, &sql, &[json, year_param])
}

/// The head of a kept row of one staff group of one school: which it is, and its newest
/// entry's time.
#[derive(QueryableByName)]
struct KeptGroupHead {
    #[diesel(sql_type = Text)]
    school_key: String,
    #[diesel(sql_type = Text)]
    staff_group_key: String,
    /// The index into `KINDS`.
    #[diesel(sql_type = diesel::sql_types::Integer)]
    kind: i32,
    /// In microseconds; `None` where it was not known when the row was kept.
    #[diesel(sql_type = diesel::sql_types::Nullable<BigInt>)]
    newest: Option<i64>,
}

/// A kept row of one staff group of one school (`report_school_group_tails`).
#[derive(QueryableByName)]
struct KeptGroupRow {
    #[diesel(sql_type = Text)]
    school_key: String,
    #[diesel(sql_type = Text)]
    staff_group_key: String,
    /// 0 for post-course responses, 1 for follow-ups (the index into `KINDS`).
    #[diesel(sql_type = diesel::sql_types::Integer)]
    kind: i32,
    #[diesel(sql_type = BigInt)]
    responses: i64,
    #[diesel(sql_type = Text)]
    entries: String,
}
