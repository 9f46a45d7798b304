//! The names a container answers to on a user-defined network: Docker's `DNSNames` of an
//! endpoint, and what the embedded resolver matches a question against. One list, so that
//! what inspect shows is what resolves.

use bollard_stubs::models::EndpointSettings;

use super::record::Record;

/// Docker's order (the first one is the name a reverse lookup would give): the container's
/// name, the endpoint's aliases, the short id, the hostname; each once.
pub(crate) fn dns_names(rec: &Record, ep: &EndpointSettings) -> Vec<String> {
    in_order(
        &rec.name,
        ep.aliases.as_deref().unwrap_or_default(),
        &rec.id,
        rec.config.hostname.as_deref().unwrap_or_default(),
    )
}

fn in_order(name: &str, aliases: &[String], id: &str, hostname: &str) -> Vec<String> {
    let short_id = &id[..12.min(id.len())];
    let candidates = std::iter::once(name)
        .chain(aliases.iter().map(String::as_str))
        .chain([short_id, hostname]);
    let mut names: Vec<String> = Vec::new();
    for n in candidates {
        if !n.is_empty() && !names.iter().any(|have| have == n) {
            names.push(n.to_string());
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "35de8003b19e27f636fc6ecbf4d7072558b872a8544f287fd69ad8182ad59023";

    #[test]
    fn dockers_order_without_repeats() {
        let aliases = ["myctr".to_string(), "foobar".to_string()];
        assert_eq!(
            in_order("foobar", &aliases, ID, "baz"),
            ["foobar", "myctr", "35de8003b19e", "baz"]
        );
        // The default hostname is the short id: listed once.
        assert_eq!(
            in_order("foobar", &[], ID, "35de8003b19e"),
            ["foobar", "35de8003b19e"]
        );
    }
}
