//! The cgroup path a container gets when its config names none: `/berth/<id>`, so berth's
//! containers sit together and never clash with the caller's own cgroup.

use std::path::PathBuf;

use oci_spec::runtime::Spec;

pub fn path_for(spec: &Spec, id: &str) -> PathBuf {
    spec.linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().clone())
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("/berth").join(id))
}
