pub struct SeccompFilter;
