//! (stub until the rootfs branch lands)
use crate::Result;
use oci_spec::runtime::Spec;
use std::path::Path;
pub struct RootfsOptions<'a> {
    pub rootfs: &'a Path,
    pub bundle: &'a Path,
    pub no_pivot: bool,
    pub console: Option<&'a Path>,
    pub in_user_namespace: bool,
}
pub fn validate(_spec: &Spec, _o: &RootfsOptions) -> Result<()> {
    todo!()
}
pub fn prepare(_spec: &Spec, _o: &RootfsOptions) -> Result<()> {
    todo!()
}
pub fn enter(_o: &RootfsOptions) -> Result<()> {
    todo!()
}
pub fn finalize(_spec: &Spec) -> Result<()> {
    todo!()
}
