//! Offer search latency with 1,000, 10,000 and 100,000 offers in the directory.
//!
//! `cargo bench -p samenspel-directory --bench search`. Offers are created through the service
//! (events on an in-memory log, applied by the projection), then 2,000 searches of the kind a
//! coordinator makes — a kind of help near a postcode, sometimes with a language or a word — are
//! timed one by one. Prints p50, p99 and max per size.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use samenspel_directory::{DirectoryConfig, DirectoryService, OrganisationKind, RawFields, RawOffer, SearchCriteria};
use samenspel_domain::Weekday;
use samenspel_eventlog::{EventLog, LocalLog, LogConfig, NodeKey};

const KINDS: [&str; 8] = [
    "boodschappen",
    "vervoer",
    "maatje",
    "respijt-aan-huis",
    "klusjes",
    "administratie",
    "lotgenotencontact",
    "cursus",
];
const LANGUAGES: [&str; 5] = ["nl", "en", "tr", "ar", "pl"];
const WORDS: [&str; 6] = ["wijk", "thuis", "samen", "vrijwilligers", "ouderen", "jongeren"];

fn offer(rng: &mut StdRng) -> RawOffer {
    let start: u16 = rng.random_range(1000..9900);
    // Most offers serve a neighbourhood or a town; a few a whole region.
    let width: u16 = match rng.random_range(0..100) {
        0..70 => rng.random_range(0..10),
        70..97 => rng.random_range(10..100),
        _ => rng.random_range(100..2000),
    };
    let end = (start + width).min(9999);
    RawOffer {
        title: format!("{} in de {}", KINDS[rng.random_range(0..8)], WORDS[rng.random_range(0..6)]),
        description: format!("{} {}", WORDS[rng.random_range(0..6)], WORDS[rng.random_range(0..6)]),
        kinds: (0..rng.random_range(1..3)).map(|_| KINDS[rng.random_range(0..8)].to_string()).collect(),
        ranges: vec![format!("{start}-{end}")],
        schedule: vec![(Some(Weekday::Monday), "09:00".into(), "17:00".into())],
        languages: (0..rng.random_range(1..3)).map(|_| LANGUAGES[rng.random_range(0..5)].to_string()).collect(),
        capacity: rng.random_range(0..5),
        max_complexity: Some(samenspel_directory::MaxComplexity::Low),
        ..RawOffer::default()
    }
}

fn query(rng: &mut StdRng) -> SearchCriteria {
    SearchCriteria {
        kind: KINDS[rng.random_range(0..8)].into(),
        postcode: rng.random_range(1000u16..10000).to_string(),
        language: if rng.random_bool(0.3) { LANGUAGES[rng.random_range(0..5)].into() } else { String::new() },
        text: if rng.random_bool(0.2) { WORDS[rng.random_range(0..6)].into() } else { String::new() },
        ..SearchCriteria::default()
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let sizes: &[usize] = if quick { &[1_000] } else { &[1_000, 10_000, 100_000] };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    println!("{:>8} {:>10} {:>10} {:>10} {:>9}", "offers", "p50", "p99", "max", "hits/q");
    for &n in sizes {
        rt.block_on(async {
            let log: Arc<dyn EventLog> =
                Arc::new(LocalLog::memory(NodeKey::generate().unwrap(), LogConfig::default()).unwrap());
            let config = DirectoryConfig { snapshot_every: u64::MAX, ..DirectoryConfig::default() };
            let service =
                DirectoryService::start(log.clone(), config, Arc::new(samenspel_domain::SystemClock)).await.unwrap();
            let org = RawFields {
                name: "Vrijwilligers".into(),
                kind: Some(OrganisationKind::Vrijwilligersorganisatie),
                ..RawFields::default()
            };
            let org = service.create(samenspel_kit::Check::new(), org, "").await.unwrap();
            let mut rng = StdRng::seed_from_u64(7);
            for _ in 0..n {
                service.create_offer(samenspel_kit::Check::new(), &org.id, offer(&mut rng), "").await.unwrap();
            }
            let mut times = Vec::with_capacity(2000);
            let mut hits = 0;
            for _ in 0..2000 {
                let q = query(&mut rng);
                let start = Instant::now();
                hits += service.search(samenspel_kit::Check::new(), q, 20).unwrap().len();
                times.push(start.elapsed());
            }
            times.sort();
            println!(
                "{n:>8} {:>10.1?} {:>10.1?} {:>10.1?} {:>9.1}",
                percentile(&times, 0.5),
                percentile(&times, 0.99),
                times[times.len() - 1],
                hits as f64 / 2000.0
            );
            service.stop().await.unwrap();
            log.close().await.unwrap();
        });
    }
}
