//! `kizuna patient search | summary`: find a patient and show the emergency summary.
//!
//! Output names only what the operator asked for; errors carry no patient data.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use kizuna_storage::store::{SearchQuery, SummaryOptions};

use crate::cmd_store::{PassphraseArgs, open};

#[derive(Debug, clap::Args)]
pub struct PatientArgs {
    #[command(subcommand)]
    command: PatientCommand,
}

#[derive(Debug, clap::Subcommand)]
enum PatientCommand {
    Search(SearchArgs),
    Summary(SummaryArgs),
}

/// Find patients by facility patient ID, kana (any width, prefix), kanji name or birth date.
#[derive(Debug, clap::Args)]
pub struct SearchArgs {
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// Patient ID, kana, kanji name or YYYYMMDD (may be empty with --dob).
    #[arg(value_name = "QUERY", default_value = "")]
    query: String,
    #[arg(long, value_name = "YYYYMMDD")]
    dob: Option<String>,
    #[arg(long, value_parser = ["M", "F", "O", "U"])]
    sex: Option<String>,
    /// Results at most (1..=200).
    #[arg(long, default_value_t = 50)]
    limit: usize,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    pass: PassphraseArgs,
}

/// The emergency summary of one patient at one facility (that facility's local ID only).
#[derive(Debug, clap::Args)]
pub struct SummaryArgs {
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    #[arg(long, value_name = "CODE")]
    facility: String,
    #[arg(long, value_name = "PID")]
    id: String,
    /// Reference date for the display windows (default: the newest prescription date).
    #[arg(long, value_name = "YYYYMMDD")]
    now: Option<String>,
    /// Also show superseded and deleted versions.
    #[arg(long)]
    history: bool,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    pass: PassphraseArgs,
}

pub fn run(args: &PatientArgs) -> anyhow::Result<ExitCode> {
    match &args.command {
        PatientCommand::Search(a) => search(a),
        PatientCommand::Summary(a) => summary(a),
    }
}

fn or_dash(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("-")
}

fn search(args: &SearchArgs) -> anyhow::Result<ExitCode> {
    let store = open(&args.data, &args.pass)?;
    let results = store
        .search(&SearchQuery {
            text: args.query.clone(),
            dob: args.dob.clone(),
            sex: args.sex.clone(),
            limit: args.limit,
        })
        .context("searching")?;
    let mut out = io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string(&results)?)?;
    } else {
        for p in &results.patients {
            writeln!(
                out,
                "{}  {:<15}  {}  {}  {}  {}  {} {}",
                p.facility,
                p.patient_id,
                or_dash(&p.kanji_name),
                or_dash(&p.kana_name),
                or_dash(&p.birth_date),
                or_dash(&p.sex),
                or_dash(&p.postcode),
                or_dash(&p.address)
            )?;
        }
        writeln!(
            out,
            "{} patients{}",
            results.patients.len(),
            if results.truncated {
                " (more match: narrow with --dob or --sex, or type more)"
            } else {
                ""
            }
        )?;
    }
    Ok(if results.patients.is_empty() {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}

fn summary(args: &SummaryArgs) -> anyhow::Result<ExitCode> {
    let store = open(&args.data, &args.pass)?;
    let opts = SummaryOptions {
        now: args.now.clone(),
        history: args.history,
    };
    let Some(s) = store
        .summary(&args.facility, &args.id, &opts)
        .context("building the summary")?
    else {
        eprintln!("kizuna patient summary: no records for that patient at that facility");
        return Ok(ExitCode::from(3));
    };
    let mut out = io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&s)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let src = |x: &kizuna_storage::store::summary::Source| {
        let v = if x.version == "current" {
            String::new()
        } else {
            format!(" [{}]", x.version)
        };
        format!("({} {} {}{v})", x.facility, x.date, x.data_type)
    };
    if let Some(p) = &s.patient {
        writeln!(
            out,
            "{} {}  {}  born {}  sex {}  {} {}",
            p.patient_id,
            or_dash(&p.kanji_name),
            or_dash(&p.kana_name),
            or_dash(&p.birth_date),
            or_dash(&p.sex),
            or_dash(&p.postcode),
            or_dash(&p.address)
        )?;
    }
    writeln!(out, "scope: {}", s.scope)?;
    writeln!(
        out,
        "reference date {} ({}); flag rules {}",
        or_dash(&s.reference_date),
        s.reference_basis,
        s.flag_rules
    )?;
    writeln!(out, "\nLIFE-SUSTAINING FLAGS")?;
    for f in &s.flags {
        let ev: Vec<String> = f
            .evidence
            .iter()
            .map(|e| format!("{} {}", e.what, src(&e.source)))
            .collect();
        writeln!(
            out,
            "  {}{}: {}",
            f.flag,
            if f.confirmed { "" } else { " (ask)" },
            ev.join("; ")
        )?;
    }
    writeln!(out, "\nALLERGIES AND CONTRAINDICATIONS")?;
    for a in &s.allergies {
        writeln!(
            out,
            "  {} {}: {} {}",
            or_dash(&a.allergen_type),
            or_dash(&a.allergen),
            or_dash(&a.reaction),
            src(&a.source)
        )?;
    }
    writeln!(out, "\nDIAGNOSES")?;
    for d in &s.diagnoses {
        writeln!(
            out,
            "  {} ICD-10 {} MEDIS {} {}",
            or_dash(&d.name),
            or_dash(&d.icd10),
            or_dash(&d.medis),
            src(&d.source)
        )?;
    }
    for (title, list) in [
        ("PRESCRIPTIONS", &s.prescriptions),
        ("INJECTIONS", &s.injections),
    ] {
        writeln!(out, "\n{title}")?;
        for m in list {
            writeln!(
                out,
                "  {} {} {} {} days {} {}",
                or_dash(&m.drug),
                or_dash(&m.dose),
                or_dash(&m.dose_unit),
                or_dash(&m.frequency),
                or_dash(&m.days),
                src(&m.source)
            )?;
        }
    }
    writeln!(out, "\nLABS")?;
    for l in &s.labs {
        writeln!(
            out,
            "  {}{} {} {} {} {}",
            l.infection
                .map(|i| format!("[infection: {i}] "))
                .unwrap_or_default(),
            or_dash(&l.name),
            or_dash(&l.value),
            or_dash(&l.unit),
            or_dash(&l.abnormal),
            src(&l.source)
        )?;
    }
    writeln!(out, "\nADMISSIONS")?;
    for a in &s.admissions {
        writeln!(
            out,
            "  {} admitted {} discharged {} ward {} {}",
            or_dash(&a.event),
            or_dash(&a.admitted),
            or_dash(&a.discharged),
            or_dash(&a.ward),
            src(&a.source)
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
