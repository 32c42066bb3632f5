//! Does `contracts infer` stream? It reads recordings of 10 000, 100 000 and 1 000 000
//! samples of the same fleet (one service: an order with nested records, optional and
//! nullable fields, closed sets, formats; a reply that is sometimes null; a map keyed by
//! SKUs; a tagged union; an event), all values drawn at random so every sample differs, and
//! reports the time and the peak resident memory of each. Memory must follow the number of
//! distinct shapes (the same at every size), not the number of samples.
//!
//! Each size runs in a process of its own, which writes its recording first, then resets its
//! peak (`/proc/self/clear_refs`) so that only the inference is measured.
//!
//! ```sh
//! cargo bench -p contracts-cli --bench infer    # BENCH_SAMPLES=1000000 for the largest
//! ```

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{Value, json};

/// SplitMix64: a seeded generator, so every run reads the same recording.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len() as u64) as usize]
    }

    fn word(&mut self) -> String {
        (0..4 + self.below(6))
            .map(|_| (b'a' + self.below(26) as u8) as char)
            .collect()
    }

    fn uuid(&mut self) -> String {
        let (a, b) = (self.next(), self.next());
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | (b >> 48) & 0x3fff,
            b & 0xffff_ffff_ffff
        )
    }

    fn sku(&mut self) -> String {
        format!("SKU-{:06x}", self.below(1 << 24))
    }

    fn email(&mut self) -> String {
        format!(
            "{}.{}@{}.example",
            self.word(),
            self.below(1000),
            self.word()
        )
    }

    fn amount(&mut self) -> f64 {
        (self.below(100_000) as f64) / 100.0 + 0.01
    }
}

fn order(rng: &mut Rng) -> Value {
    let items: Vec<Value> = (0..1 + rng.below(4))
        .map(|_| json!({"sku": rng.sku(), "qty": 1 + rng.below(40), "unit_price": rng.amount()}))
        .collect();
    let method = rng.pick(&["standard", "express", "pickup"]);
    let address = (method != "pickup").then(|| {
        json!({
            "street": format!("{} {} Street", rng.below(300), rng.word()),
            "city": rng.word(),
            "postcode": format!("{:05}", rng.below(100_000)),
            "country": rng.pick(&["DE", "FR", "NL", "GB", "US", "ES"]),
        })
    });
    let mut kwargs = json!({
        "customer": {"id": rng.uuid(), "email": rng.email(), "name": rng.word()},
        "items": items,
        "shipping": {"method": method, "address": address},
    });
    if rng.below(10) < 4 {
        kwargs["note"] = json!(rng.word());
    }
    json!({"args": [], "kwargs": kwargs, "replied": true, "error": null, "result": {
        "order_id": rng.uuid(), "status": "pending", "created_at": "2026-12-05T12:00:00+00:00",
        "total": rng.amount(), "line_count": 1 + rng.below(4),
    }})
}

fn get_order(rng: &mut Rng) -> Value {
    let result = if rng.below(3) == 0 {
        Value::Null
    } else {
        json!({"order_id": rng.uuid(), "customer_email": rng.email(), "total": rng.amount()})
    };
    json!({"args": [rng.uuid()], "kwargs": {}, "replied": true, "error": null, "result": result})
}

fn stock_levels(rng: &mut Rng) -> Value {
    let skus: Vec<String> = (0..1 + rng.below(5)).map(|_| rng.sku()).collect();
    let levels: serde_json::Map<String, Value> = skus
        .iter()
        .map(|s| (s.clone(), json!(rng.below(500))))
        .collect();
    json!({"args": [], "kwargs": {"skus": skus}, "replied": true, "error": null, "result": levels})
}

fn charge(rng: &mut Rng) -> Value {
    let instrument = match rng.below(3) {
        0 => json!({"kind": "card", "last4": format!("{:04}", rng.below(10_000)),
                    "expiry_month": 1 + rng.below(12), "expiry_year": 2027 + rng.below(9)}),
        1 => json!({"kind": "bank", "iban": format!("DE{:020}", rng.next() % 10u64.pow(19)),
                    "holder": rng.word()}),
        _ => json!({"kind": "wallet", "provider": rng.pick(&["apple", "google", "paypal"]),
                    "account_email": rng.email()}),
    };
    let amount = rng.amount();
    let (result, error) = if amount > 900.0 {
        (
            Value::Null,
            json!({"exc_type": "PaymentDeclined", "exc_path": "shop.PaymentDeclined",
                   "exc_args": ["over the limit"], "value": "over the limit"}),
        )
    } else {
        (
            json!({"payment_id": rng.uuid(), "amount": amount,
                   "currency": rng.pick(&["EUR", "USD"])}),
            Value::Null,
        )
    };
    json!({"args": [rng.uuid(), amount], "kwargs": {"instrument": instrument},
           "replied": true, "error": error, "result": result})
}

fn order_created(rng: &mut Rng) -> Value {
    let lines: Vec<Value> = (0..1 + rng.below(4))
        .map(|_| json!({"sku": rng.sku(), "qty": 1 + rng.below(40)}))
        .collect();
    json!({"payload": {"order_id": rng.uuid(), "total": rng.amount(),
                       "placed_at": "2026-12-05T12:00:00+00:00", "lines": lines}})
}

/// Write `samples` samples, spread over the service's messages, under `dir`; its size.
fn write_recording(dir: &Path, samples: u64) -> u64 {
    let service = dir.join("shop");
    std::fs::create_dir_all(&service).unwrap();
    type Make = fn(&mut Rng) -> Value;
    let messages: [(&str, Make); 5] = [
        ("create_order.rpc.jsonl", order),
        ("get_order.rpc.jsonl", get_order),
        ("stock_levels.rpc.jsonl", stock_levels),
        ("charge.rpc.jsonl", charge),
        ("order_created.event.jsonl", order_created),
    ];
    let mut rng = Rng(42);
    let mut bytes = 0;
    for (i, (file, make)) in messages.iter().enumerate() {
        let mut out = BufWriter::new(File::create(service.join(file)).unwrap());
        let share = samples / 5 + u64::from((i as u64) < samples % 5);
        for _ in 0..share {
            let line = make(&mut rng).to_string();
            bytes += line.len() as u64 + 1;
            writeln!(out, "{line}").unwrap();
        }
        out.flush().unwrap();
    }
    bytes
}

fn peak_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}

/// One size, in this process: write, reset the peak, infer, report.
fn one(samples: u64, dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    let bytes = write_recording(dir, samples);
    std::fs::write("/proc/self/clear_refs", "5").expect("reset the peak RSS");
    let before = peak_kib();
    let started = Instant::now();
    let inference = contracts_cli::infer::infer(dir).unwrap();
    let elapsed = started.elapsed();
    let peak = peak_kib();
    assert_eq!(inference.samples, samples);
    println!(
        "{samples:>9} samples ({:>5} MB): {:>6.2} s, {:>7.0} samples/s, peak RSS {:>6.1} MB \
         ({:.1} MB before reading)",
        bytes / 1_000_000,
        elapsed.as_secs_f64(),
        samples as f64 / elapsed.as_secs_f64(),
        peak as f64 / 1024.0,
        before as f64 / 1024.0,
    );
    std::fs::remove_dir_all(dir).unwrap();
}

fn main() {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() == Some("--one") {
        let samples = args.next().unwrap().parse().unwrap();
        let dir = PathBuf::from(args.next().unwrap());
        one(samples, &dir);
        return;
    }
    let largest: u64 = std::env::var("BENCH_SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let me = std::env::current_exe().unwrap();
    let dir = std::env::temp_dir().join(format!("contracts-bench-infer-{}", std::process::id()));
    let mut size = 10_000;
    while size <= largest {
        let status = std::process::Command::new(&me)
            .arg("--one")
            .arg(size.to_string())
            .arg(&dir)
            .status()
            .unwrap();
        assert!(status.success());
        size *= 10;
    }
}
