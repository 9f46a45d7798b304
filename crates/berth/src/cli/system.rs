//! `version` and `info`, laid out as docker's.

use clap::Args;
use serde_json::{Value, json};

use crate::client::{API_VERSION, Client};

use super::template::Template;
use super::{Exit, Res, human, out};

#[derive(Args, Debug)]
pub struct VersionArgs {
    /// Format output using a custom template.
    #[arg(short, long)]
    pub format: Option<String>,
}

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn client_info() -> Value {
    json!({
        "Platform": {"Name": "berth"},
        "Version": env!("CARGO_PKG_VERSION"),
        "ApiVersion": API_VERSION,
        "DefaultAPIVersion": API_VERSION,
        "Os": std::env::consts::OS,
        "Arch": arch(),
        "Context": "default",
    })
}

fn st<'a>(v: &'a Value, p: &str) -> &'a str {
    v.pointer(p).and_then(Value::as_str).unwrap_or("")
}

fn render(format: &str, v: &Value) -> Result<String, Exit> {
    let t =
        Template::parse(&format.replace("\\t", "\t").replace("\\n", "\n")).map_err(Exit::one)?;
    let mut s = t.render(v).map_err(Exit::one)?;
    s.push('\n');
    Ok(s)
}

pub fn version(c: &Client, a: &VersionArgs) -> Res {
    let client = client_info();
    let server = c.get_json("/version");
    if let Some(f) = &a.format {
        let mut v = json!({"Client": client, "Server": server.as_ref().ok()});
        // Templates name Go's struct fields: `APIVersion` is the JSON's `ApiVersion`.
        for side in ["Client", "Server"] {
            if let Some(m) = v.get_mut(side).and_then(Value::as_object_mut)
                && let Some(api) = m.get("ApiVersion").cloned()
            {
                m.insert("APIVersion".into(), api);
            }
        }
        out(&render(f, &v)?);
        return server.map(|_| 0).map_err(Exit::one);
    }
    let mut s = String::new();
    s.push_str("Client:\n");
    s.push_str(&format!(
        " Version:           {}\n",
        st(&client, "/Version")
    ));
    s.push_str(&format!(
        " API version:       {}\n",
        st(&client, "/ApiVersion")
    ));
    s.push_str(&format!(
        " OS/Arch:           {}/{}\n",
        st(&client, "/Os"),
        st(&client, "/Arch")
    ));
    s.push_str(" Context:           default\n");
    let server = match server {
        Ok(v) => v,
        Err(e) => {
            out(&s);
            return Err(Exit::one(e));
        }
    };
    s.push_str(&format!("\nServer: {}\n", st(&server, "/Platform/Name")));
    let comps = server
        .get("Components")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if comps.is_empty() {
        s.push_str(" Engine:\n");
        s.push_str(&format!(
            "  Version:          {}\n",
            st(&server, "/Version")
        ));
        s.push_str(&format!(
            "  API version:      {} (minimum version {})\n",
            st(&server, "/ApiVersion"),
            st(&server, "/MinAPIVersion")
        ));
        s.push_str(&format!(
            "  OS/Arch:          {}/{}\n",
            st(&server, "/Os"),
            st(&server, "/Arch")
        ));
    }
    for comp in &comps {
        let name = st(comp, "/Name");
        s.push_str(&format!(" {name}:\n"));
        s.push_str(&format!("  Version:          {}\n", st(comp, "/Version")));
        if name == "Engine" {
            s.push_str(&format!(
                "  API version:      {} (minimum version {})\n",
                st(&server, "/ApiVersion"),
                st(&server, "/MinAPIVersion")
            ));
        }
        if let Some(d) = comp.get("Details").and_then(Value::as_object) {
            for (k, v) in d {
                if name == "Engine" && matches!(k.as_str(), "ApiVersion" | "MinAPIVersion") {
                    continue;
                }
                let label = match k.as_str() {
                    "GitCommit" => "Git commit".to_string(),
                    "GoVersion" => "Go version".to_string(),
                    "BuildTime" => "Built".to_string(),
                    "KernelVersion" => "Kernel version".to_string(),
                    other => other.to_string(),
                };
                let v = v
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string());
                s.push_str(&format!("  {:<18}{v}\n", format!("{label}:")));
            }
        }
    }
    out(&s);
    Ok(0)
}

#[derive(Args, Debug)]
pub struct InfoArgs {
    /// Format output using a custom template.
    #[arg(short, long)]
    pub format: Option<String>,
}

pub fn info(c: &Client, a: &InfoArgs) -> Res {
    let info = c.get_json("/info");
    if let Some(f) = &a.format {
        let v = info.map_err(Exit::one)?;
        out(&render(f, &v)?);
        return Ok(0);
    }
    let mut s = String::from("Client:\n");
    s.push_str(&format!(
        " Version:    {}\n Context:    default\n Debug Mode: false\n\nServer:\n",
        env!("CARGO_PKG_VERSION")
    ));
    let v = match info {
        Ok(v) => v,
        Err(e) => {
            out(&s);
            return Err(Exit::one(e));
        }
    };
    let n = |p: &str| {
        v.pointer(p)
            .map(|x| x.to_string())
            .unwrap_or_else(|| "0".into())
    };
    s.push_str(&format!(" Containers: {}\n", n("/Containers")));
    s.push_str(&format!("  Running: {}\n", n("/ContainersRunning")));
    s.push_str(&format!("  Paused: {}\n", n("/ContainersPaused")));
    s.push_str(&format!("  Stopped: {}\n", n("/ContainersStopped")));
    s.push_str(&format!(" Images: {}\n", n("/Images")));
    for (label, key) in [
        ("Server Version", "/ServerVersion"),
        ("Storage Driver", "/Driver"),
        ("Logging Driver", "/LoggingDriver"),
        ("Cgroup Driver", "/CgroupDriver"),
        ("Cgroup Version", "/CgroupVersion"),
        ("Default Runtime", "/DefaultRuntime"),
        ("Kernel Version", "/KernelVersion"),
        ("Operating System", "/OperatingSystem"),
        ("OSType", "/OSType"),
        ("Architecture", "/Architecture"),
    ] {
        let val = st(&v, key);
        if !val.is_empty() {
            s.push_str(&format!(" {label}: {val}\n"));
        }
    }
    s.push_str(&format!(" CPUs: {}\n", n("/NCPU")));
    if let Some(m) = v.get("MemTotal").and_then(Value::as_f64) {
        s.push_str(&format!(" Total Memory: {}\n", human::bytes_size(m)));
    }
    for (label, key) in [
        ("Name", "/Name"),
        ("ID", "/ID"),
        ("Docker Root Dir", "/DockerRootDir"),
    ] {
        s.push_str(&format!(" {label}: {}\n", st(&v, key)));
    }
    s.push_str(&format!(
        " Debug Mode: {}\n Experimental: {}\n Live Restore Enabled: {}\n",
        v.get("Debug").and_then(Value::as_bool).unwrap_or(false),
        v.get("ExperimentalBuild")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        v.get("LiveRestoreEnabled")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    ));
    if let Some(w) = v.get("Warnings").and_then(Value::as_array) {
        s.push('\n');
        for w in w.iter().filter_map(Value::as_str) {
            s.push_str(w);
            s.push('\n');
        }
    }
    out(&s);
    Ok(0)
}
