//! `samenspel credentials issue|list|revoke`: the bearer credentials a node accepts, kept in its
//! data directory (only their hashes). Works with the node stopped or running; a running node
//! takes a change within a second.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use samenspel_kit::Role;
use samenspel_node::credentials::{Credential, CredentialFile};

fn now_micros() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// When a credential given `--expires` ends: `90d`, `12h`, or a day `2027-03-01` (its start, Dutch
/// time).
pub fn expiry(text: &str, now: i64) -> anyhow::Result<i64> {
    let text = text.trim();
    let hour = 3_600_000_000i64;
    let amount = |n: &str| n.parse::<i64>().ok().filter(|n| (1..=36_500 * 24).contains(n));
    if let Some(days) = text.strip_suffix('d').and_then(amount) {
        return Ok(now + days * 24 * hour);
    }
    if let Some(hours) = text.strip_suffix('h').and_then(amount) {
        return Ok(now + hours * hour);
    }
    match text.parse::<samenspel_domain::LocalDate>() {
        Ok(day) => Ok(day.start_micros()),
        Err(_) => bail!("--expires is a number of days (90d), hours (12h), or a day (2027-03-01)"),
    }
}

/// Issues a credential and prints its secret, once, alone on the last line of stdout.
pub fn issue(
    data: &Path,
    organisation: Option<&str>,
    role: &str,
    expires: Option<&str>,
    label: &str,
) -> anyhow::Result<()> {
    let role: Role = role.parse().map_err(|e: String| anyhow::anyhow!("--role: {e}"))?;
    let now = now_micros();
    let expires = expires.map(|e| expiry(e, now)).transpose()?;
    let organisation = organisation.map(|o| o.trim().to_ascii_lowercase()).filter(|o| !o.is_empty());
    let file = CredentialFile::in_dir(data);
    let (credential, secret) = file.issue(organisation, role, label, expires, now)?;
    println!("issued {} ({})", credential.id, describe(&credential, now));
    println!(
        "keep the secret below: it is shown this once and stored nowhere (only its hash, in {})",
        file.path().display()
    );
    println!("{secret}");
    Ok(())
}

fn describe(c: &Credential, now: i64) -> String {
    let mut parts = vec![format!("role {}", c.role)];
    if let Some(o) = &c.organisation {
        parts.push(format!("organisation {o}"));
    }
    match (c.revoked_micros, c.expires_micros) {
        (Some(_), _) => parts.push("revoked".into()),
        (None, Some(e)) if e <= now => parts.push("expired".into()),
        (None, Some(e)) => parts.push(format!("expires {}", samenspel_domain::LocalDate::of_micros(e))),
        (None, None) => parts.push("does not expire".into()),
    }
    if !c.label.is_empty() {
        parts.push(format!("label {:?}", c.label));
    }
    parts.join(", ")
}

/// Prints every credential: id, role, organisation, state; never a secret or hash.
pub fn list(data: &Path) -> anyhow::Result<()> {
    let file = CredentialFile::in_dir(data);
    let all = file.load()?;
    if all.is_empty() {
        println!("no credentials in {}", file.path().display());
        return Ok(());
    }
    let now = now_micros();
    for c in &all {
        let issued = samenspel_domain::LocalDate::of_micros(c.created_micros);
        println!("{}  issued {issued}  {}", c.id, describe(c, now));
    }
    Ok(())
}

/// Revokes a credential; a running node refuses it within a second, and ends its open streams.
pub fn revoke(data: &Path, id: &str) -> anyhow::Result<()> {
    let file = CredentialFile::in_dir(data);
    let revoked = file.revoke(id.trim(), now_micros()).context("cannot revoke")?;
    println!("revoked {} ({})", revoked.id, describe(&revoked, now_micros()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_reads_days_hours_and_dates() {
        let now = 1_000_000;
        assert_eq!(expiry("90d", now).unwrap(), now + 90 * 86_400_000_000);
        assert_eq!(expiry("12h", now).unwrap(), now + 12 * 3_600_000_000);
        assert!(expiry("2027-03-01", now).unwrap() > now);
        for bad in ["0d", "-3d", "soon", "2027-02-30", ""] {
            assert!(expiry(bad, now).is_err(), "{bad}");
        }
    }
}
