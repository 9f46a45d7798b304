//! Choosing a bridge subnet that nothing on the host uses yet, from Docker's default pools.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

/// Docker's default address pools: 172.17-31.0.0/16, then 192.168.0.0/16 cut into /20s.
pub fn default_pools() -> Vec<Ipv4Net> {
    let mut pools: Vec<Ipv4Net> = (17..=31)
        .map(|b| Ipv4Net::new(Ipv4Addr::new(172, b, 0, 0), 16).expect("valid /16"))
        .collect();
    pools.extend(
        Ipv4Net::new(Ipv4Addr::new(192, 168, 0, 0), 16)
            .expect("valid /16")
            .subnets(20)
            .expect("/20 inside a /16"),
    );
    pools
}

/// Cuts `--default-address-pool base=CIDR,size=N` into its subnets.
pub fn split_pool(base: Ipv4Net, size: u8) -> Result<Vec<Ipv4Net>, String> {
    base.subnets(size)
        .map(Iterator::collect)
        .map_err(|_| format!("pool size /{size} is larger than its base {base}"))
}

/// Whether two subnets share any address.
pub fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The first candidate that overlaps nothing in `in_use`.
pub fn first_free(candidates: &[Ipv4Net], in_use: &[Ipv4Net]) -> Option<Ipv4Net> {
    candidates
        .iter()
        .find(|c| !in_use.iter().any(|u| overlaps(c, u)))
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_subnets_in_use() {
        let pools = default_pools();
        assert_eq!(pools[0].to_string(), "172.17.0.0/16");
        assert_eq!(pools.len(), 15 + 16);
        let used = [
            "172.17.0.0/16".parse().unwrap(),
            "172.18.5.0/24".parse().unwrap(),
        ];
        assert_eq!(
            first_free(&pools, &used).unwrap().to_string(),
            "172.19.0.0/16"
        );
        let all = ["0.0.0.0/0".parse().unwrap()];
        assert!(first_free(&pools, &all).is_none());
    }

    #[test]
    fn pools_split() {
        let s = split_pool("10.10.0.0/16".parse().unwrap(), 24).unwrap();
        assert_eq!(s.len(), 256);
        assert!(split_pool("10.10.0.0/24".parse().unwrap(), 16).is_err());
    }
}
