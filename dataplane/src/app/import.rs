//! `tollgate import`: clients, environments and contact centers from the
//! original's API exports (files, or the lists fetched from a running
//! original). Every record goes through the same checks as a write of the
//! ops API or the Environment API, and all of them pass before anything is
//! written: a bad record names its file, index and field, and leaves the
//! database as it was.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use clap::{ArgGroup, Args};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use tollgate_store::model::{now, AuditEvent, Client, ContactCenter, Environment};
use tollgate_store::validate::client::MIN_CLIENT_SECRET;
use tollgate_store::Db;

use crate::app::config::StoreArgs;
use crate::web::admin_api::contact_centers::{self as ccs, ContactCenterInput, ContactCenterView};
use crate::web::admin_api::environments::{self as envs, EnvironmentInput, EnvironmentView};
use crate::web::data::parse_data;
use crate::web::oauth_api::ops_clients::{self as clients, ClientInput, ClientRules, ClientView};

const CLIENTS_FILE: &str = "clients.json";
const ENVIRONMENTS_FILE: &str = "environments.json";
const CONTACT_CENTERS_FILE: &str = "contact-centers.json";
/// Who the audit trail names for the import's writes.
const SUBJECT: &str = "tollgate import";

/// Where the records come from, and what to do with records that exist.
#[derive(Debug, Clone, Args)]
#[command(group(ArgGroup::new("source").required(true).multiple(true).args([
    "clients_file", "environments_file", "contact_centers_file", "from_dir", "from_url"
])))]
pub struct ImportArgs {
    /// The original's client list (`GET /auth/v3/ops/clients`): its answer
    /// `{"data": [...]}` or a JSON array of clients.
    #[arg(long, conflicts_with_all = ["from_dir", "from_url"])]
    pub clients_file: Option<PathBuf>,
    /// The original's environments (`GET /environment/v3/environments`).
    #[arg(long, conflicts_with_all = ["from_dir", "from_url"])]
    pub environments_file: Option<PathBuf>,
    /// The original's contact centers (`GET /environment/v3/contact-centers`).
    #[arg(long, conflicts_with_all = ["from_dir", "from_url"])]
    pub contact_centers_file: Option<PathBuf>,
    /// A directory holding clients.json, environments.json and
    /// contact-centers.json (those present are read).
    #[arg(long, conflicts_with = "from_url")]
    pub from_dir: Option<PathBuf>,
    /// Fetch the three lists from a running original at this base URL
    /// (e.g. https://gauth.example).
    #[arg(long)]
    pub from_url: Option<String>,
    /// With --from-url: the ops API's user (HTTP Basic) for the client list.
    #[arg(long, default_value = "ops")]
    pub ops_user: String,
    /// With --from-url: the ops API's password.
    #[arg(long, env = "TOLLGATE_IMPORT_OPS_PASSWORD", hide_env_values = true)]
    pub ops_password: Option<String>,
    /// With --from-url: a client with ROLE_MANAGEMENT_APPLICATION (or
    /// ROLE_INTERNAL_CLIENT) whose client-credentials token reads the
    /// Environment API. Without it the ops credentials are sent, as the
    /// original's provisioning scripts do.
    #[arg(long, requires = "environment_client_secret")]
    pub environment_client_id: Option<String>,
    /// The secret of --environment-client-id.
    #[arg(
        long,
        env = "TOLLGATE_IMPORT_ENVIRONMENT_CLIENT_SECRET",
        hide_env_values = true
    )]
    pub environment_client_secret: Option<String>,
    /// A JSON object of client ids and their secrets, for clients whose
    /// record carries none (the original's client list never shows them).
    #[arg(long)]
    pub client_secrets_file: Option<PathBuf>,
    /// Print what would be created, updated and skipped; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Update the stored records that differ from the export (without it
    /// they are reported and left as they are).
    #[arg(long)]
    pub update: bool,
    /// As `serve`'s: the shortest client secret accepted. Lower it to import
    /// clients registered with short secrets; each one is audited
    /// (`client.weak_secret`).
    #[arg(long, env = "TOLLGATE_MIN_CLIENT_SECRET_LENGTH", default_value_t = MIN_CLIENT_SECRET, value_parser = clap::builder::TypedValueParser::map(clap::value_parser!(u16).range(1..=256), usize::from))]
    pub min_client_secret_length: usize,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// One record of an export, with where it came from for messages.
struct Record {
    source: String,
    index: usize,
    value: Value,
}

impl Record {
    /// `clients.json: record 3 (client 'x')`: where a problem is.
    fn at(&self, what: &str, id: Option<&str>) -> String {
        match id {
            Some(id) => format!("{}: record {} ({what} '{id}')", self.source, self.index),
            None => format!("{}: record {}", self.source, self.index),
        }
    }

    /// The record read as a write of the API: the same field names, types
    /// and messages as the API's 400s.
    fn parse<T: DeserializeOwned>(&self) -> Result<T, String> {
        if !self.value.is_object() {
            return Err("a record must be a JSON object".into());
        }
        let body = json!({ "data": &self.value }).to_string();
        parse_data(body.as_bytes()).map_err(|e| e.message)
    }

    /// The id the record gives itself, if it can be read.
    fn id(&self, key: &str) -> Option<&str> {
        self.value.get(key).and_then(Value::as_str)
    }
}

#[derive(Default)]
struct Export {
    environments: Vec<Record>,
    contact_centers: Vec<Record>,
    clients: Vec<Record>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Action {
    Create,
    Update,
    Unchanged,
    /// Differs from the stored record; left as it is without --update.
    Skip,
}

/// What the import does with one record.
struct Step<T> {
    id: String,
    action: Action,
    /// The record as it will be stored.
    record: T,
    /// Fields (API names) that differ from the stored record.
    changed: Vec<String>,
    notes: Vec<String>,
    /// A client secret accepted only because the minimum was lowered.
    weak_secret: bool,
}

impl<T> Step<T> {
    fn new(id: String, action: Action, record: T) -> Self {
        Step {
            id,
            action,
            record,
            changed: vec![],
            notes: vec![],
            weak_secret: false,
        }
    }

    /// Create, or compare with the stored record and update only if asked.
    fn compared(id: String, record: T, changed: Vec<String>, update: bool) -> Self {
        let action = match (changed.is_empty(), update) {
            (true, _) => Action::Unchanged,
            (false, true) => Action::Update,
            (false, false) => Action::Skip,
        };
        Step {
            changed,
            ..Step::new(id, action, record)
        }
    }

    fn writes(&self) -> bool {
        matches!(self.action, Action::Create | Action::Update)
    }

    /// `what id (detail): action; notes`.
    fn line(&self, what: &str, detail: &str) -> String {
        let mut line = format!("{what} {}{detail}: ", self.id);
        line += &match self.action {
            Action::Create => "create".to_string(),
            Action::Update => format!("update ({})", self.changed.join(", ")),
            Action::Unchanged => "unchanged".to_string(),
            Action::Skip => format!(
                "differs ({}): skipped, --update updates it",
                self.changed.join(", ")
            ),
        };
        for note in &self.notes {
            line += "; ";
            line += note;
        }
        line
    }
}

struct Plan {
    environments: Vec<Step<Environment>>,
    contact_centers: Vec<Step<ContactCenter>>,
    clients: Vec<Step<Client>>,
}

/// Runs the import; returns the report to print.
pub async fn run(db: &Db, args: &ImportArgs) -> anyhow::Result<String> {
    let export = match &args.from_url {
        Some(url) => fetch(url, args).await?,
        None => read_files(args)?,
    };
    let secrets = read_secrets(args.client_secrets_file.as_deref())?;
    let plan = plan(db, &export, &secrets, args).await?;
    let mut report = report(&plan);
    if args.dry_run {
        report += "\ndry run: nothing written";
    } else if count(&plan, |a| matches!(a, Action::Create | Action::Update)) == 0 {
        report += "\nnothing to write";
    } else {
        let written = write(db, &plan, args.min_client_secret_length).await?;
        report += &format!("\nwritten: {written} record(s)");
    }
    Ok(report)
}

// -- reading ---------------------------------------------------------------

fn read_files(args: &ImportArgs) -> anyhow::Result<Export> {
    let dir_file = |name: &str| {
        args.from_dir
            .as_ref()
            .map(|d| d.join(name))
            .filter(|p| p.exists())
    };
    let files = [
        args.environments_file
            .clone()
            .or(dir_file(ENVIRONMENTS_FILE)),
        args.contact_centers_file
            .clone()
            .or(dir_file(CONTACT_CENTERS_FILE)),
        args.clients_file.clone().or(dir_file(CLIENTS_FILE)),
    ];
    if let Some(dir) = &args.from_dir {
        if files.iter().all(Option::is_none) {
            bail!(
                "--from-dir: {} holds none of {ENVIRONMENTS_FILE}, {CONTACT_CENTERS_FILE}, {CLIENTS_FILE}",
                dir.display()
            );
        }
    }
    let [environments, contact_centers, clients] = files.map(|f| match f {
        Some(path) => std::fs::read(&path)
            .with_context(|| format!("cannot read {}", path.display()))
            .and_then(|body| records(&path.display().to_string(), &body)),
        None => Ok(vec![]),
    });
    Ok(Export {
        environments: environments?,
        contact_centers: contact_centers?,
        clients: clients?,
    })
}

/// The records of an API answer `{"status": …, "data": [...]}` or of a
/// JSON array.
fn records(source: &str, body: &[u8]) -> anyhow::Result<Vec<Record>> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        anyhow!(
            "{source}: not valid JSON (line {}, column {})",
            e.line(),
            e.column()
        )
    })?;
    if let Some(code) = value.pointer("/status/code").and_then(Value::as_i64) {
        if code != 0 {
            bail!("{source}: the answer is an error (status.code {code}), not a list");
        }
    }
    let list = match value {
        Value::Array(list) => list,
        Value::Object(mut top) => match top.remove("data") {
            Some(Value::Array(list)) => list,
            _ => bail!("{source}: expected the API's answer {{\"data\": [...]}} or a JSON array"),
        },
        _ => bail!("{source}: expected the API's answer {{\"data\": [...]}} or a JSON array"),
    };
    Ok(list
        .into_iter()
        .enumerate()
        .map(|(index, value)| Record {
            source: source.to_string(),
            index,
            value,
        })
        .collect())
}

fn read_secrets(path: Option<&Path>) -> anyhow::Result<HashMap<String, String>> {
    let Some(path) = path else {
        return Ok(HashMap::new());
    };
    let body = std::fs::read(path)
        .with_context(|| format!("--client-secrets-file: cannot read {}", path.display()))?;
    // The message never quotes the file: it holds secrets.
    serde_json::from_slice(&body).map_err(|e| {
        anyhow!(
            "--client-secrets-file {}: expected a JSON object of client ids and secret strings \
             (line {}, column {})",
            path.display(),
            e.line(),
            e.column()
        )
    })
}

/// The three lists from a running original: the client list with the ops
/// credentials, the Environment API with a client's token or those.
async fn fetch(url: &str, args: &ImportArgs) -> anyhow::Result<Export> {
    let base = url.trim_end_matches('/');
    let ops_password = args
        .ops_password
        .as_deref()
        .ok_or_else(|| anyhow!("--ops-password is required with --from-url"))?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .context("building the HTTP client")?;
    let ops = |r: reqwest::RequestBuilder| r.basic_auth(&args.ops_user, Some(ops_password));
    let token = match (&args.environment_client_id, &args.environment_client_secret) {
        (Some(id), Some(secret)) => Some(client_token(&http, base, id, secret).await?),
        _ => None,
    };
    let environment_api = |r: reqwest::RequestBuilder| match &token {
        Some(t) => r.bearer_auth(t),
        None => ops(r),
    };
    let get = |path: &str| http.get(format!("{base}{path}"));
    Ok(Export {
        environments: list(environment_api(get("/environment/v3/environments")), base).await?,
        contact_centers: list(
            environment_api(get("/environment/v3/contact-centers")),
            base,
        )
        .await?,
        clients: list(ops(get("/auth/v3/ops/clients")), base).await?,
    })
}

async fn list(request: reqwest::RequestBuilder, base: &str) -> anyhow::Result<Vec<Record>> {
    let (url, body) = answer(request, base).await?;
    records(&url, &body)
}

/// The body of a 2xx answer; an error names the URL and the status.
async fn answer(request: reqwest::RequestBuilder, base: &str) -> anyhow::Result<(String, Vec<u8>)> {
    let response = request
        .send()
        .await
        .with_context(|| format!("--from-url: cannot reach {base}"))?;
    let url = response.url().to_string();
    let status = response.status();
    let body = response
        .bytes()
        .await
        .with_context(|| format!("{url}: reading the answer"))?;
    if !status.is_success() {
        let text: String = String::from_utf8_lossy(&body).chars().take(300).collect();
        bail!("{url}: HTTP {status}: {text}");
    }
    Ok((url, body.to_vec()))
}

/// A client-credentials access token of the original.
async fn client_token(
    http: &reqwest::Client,
    base: &str,
    id: &str,
    secret: &str,
) -> anyhow::Result<String> {
    let request = http
        .post(format!("{base}/auth/v3/oauth/token"))
        .basic_auth(id, Some(secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials");
    let (url, body) = answer(request, base)
        .await
        .context("--environment-client-id: no token")?;
    serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("access_token")?.as_str().map(str::to_string))
        .ok_or_else(|| anyhow!("{url}: the answer holds no access_token"))
}

// -- planning --------------------------------------------------------------

async fn plan(
    db: &Db,
    export: &Export,
    secrets: &HashMap<String, String>,
    args: &ImportArgs,
) -> anyhow::Result<Plan> {
    let unread = "reading the stored records (a new database needs `tollgate migrate` first)";
    let stored_envs = by_id(db.list_environments().await.context(unread)?, |e| &e.id);
    let stored_ccs = by_id(db.list_contact_centers().await.context(unread)?, |c| &c.id);
    let stored_clients = by_id(db.list_clients().await.context(unread)?, |c| &c.client_id);
    let mut errors = vec![];
    let environments = plan_all(
        &export.environments,
        "environment",
        "id",
        &mut errors,
        |r| plan_environment(r, &stored_envs, args.update),
    );
    let contact_centers = plan_all(
        &export.contact_centers,
        "contact center",
        "id",
        &mut errors,
        |r| plan_contact_center(r, &stored_ccs, args.update),
    );
    check_tenants(
        &export.contact_centers,
        &contact_centers,
        &environments,
        &stored_envs,
        &stored_ccs,
        &mut errors,
    );
    let known_ccs: HashSet<&str> = stored_ccs
        .keys()
        .map(String::as_str)
        .chain(contact_centers.iter().map(|s| s.id.as_str()))
        .collect();
    let rules = ClientRules {
        min_secret_length: args.min_client_secret_length,
        contact_center_exists: &|id| known_ccs.contains(id),
    };
    let clients = plan_all(&export.clients, "client", "client_id", &mut errors, |r| {
        plan_client(r, &stored_clients, secrets, &rules, args.update)
    });
    if !errors.is_empty() {
        bail!(
            "{}\nnothing was imported ({} bad record{})",
            errors.join("\n"),
            errors.len(),
            if errors.len() == 1 { "" } else { "s" }
        );
    }
    Ok(Plan {
        environments,
        contact_centers,
        clients,
    })
}

fn by_id<T>(list: Vec<T>, id: impl Fn(&T) -> &String) -> HashMap<String, T> {
    list.into_iter().map(|t| (id(&t).clone(), t)).collect()
}

/// Plans every record, collecting the problems of all of them; an id
/// given twice is one.
fn plan_all<T>(
    records: &[Record],
    what: &str,
    id_key: &str,
    errors: &mut Vec<String>,
    plan_one: impl Fn(&Record) -> Result<Step<T>, String>,
) -> Vec<Step<T>> {
    let mut seen = HashSet::new();
    let mut steps = vec![];
    for r in records {
        match plan_one(r) {
            Ok(step) if !seen.insert(step.id.clone()) => errors.push(format!(
                "{}: the {what} is listed twice",
                r.at(what, Some(&step.id))
            )),
            Ok(step) => steps.push(step),
            Err(e) => errors.push(format!("{}: {e}", r.at(what, r.id(id_key)))),
        }
    }
    steps
}

/// The id a record must give: the import keeps the original's ids, which
/// the other records and the applications refer to.
fn required_id(id: &Option<String>) -> Result<String, String> {
    id.clone()
        .ok_or_else(|| "'id' is required: the import keeps the original's ids".to_string())
}

fn plan_environment(
    r: &Record,
    stored: &HashMap<String, Environment>,
    update: bool,
) -> Result<Step<Environment>, String> {
    let mut d: EnvironmentInput = r.parse()?;
    let id = required_id(&d.id)?;
    // A listed record carries the original's version, not ours.
    d.version = None;
    let Some(old) = stored.get(&id) else {
        let e = envs::new_environment(&d).map_err(|e| e.message)?;
        let mut step = Step::new(id, Action::Create, e);
        if step.record.password.is_none() {
            step.notes.push(
                "no password in the export: set the Configuration Server account's with \
                 PUT /environment/v3/environments/{id}"
                    .replace("{id}", &step.id),
            );
        }
        return Ok(step);
    };
    let e = envs::updated_environment(old, &d).map_err(|e| e.message)?;
    let mut changed = changes(&EnvironmentView::from(old), &EnvironmentView::from(&e));
    if e.password != old.password {
        changed.push("password".into());
    }
    Ok(Step::compared(id, e, changed, update))
}

fn plan_contact_center(
    r: &Record,
    stored: &HashMap<String, ContactCenter>,
    update: bool,
) -> Result<Step<ContactCenter>, String> {
    let mut d: ContactCenterInput = r.parse()?;
    let id = required_id(&d.id)?;
    d.version = None;
    let Some(old) = stored.get(&id) else {
        let c = ccs::new_contact_center(&d).map_err(|e| e.message)?;
        return Ok(Step::new(id, Action::Create, c));
    };
    let mut c = old.clone();
    ccs::apply(&mut c, &d).map_err(|e| e.message)?;
    let changed = changes(&ContactCenterView::from(old), &ContactCenterView::from(&c));
    Ok(Step::compared(id, c, changed, update))
}

/// Each contact center goes into its own environment, which must exist
/// (stored or imported), and its domains stay unique across all contact
/// centers, as the Environment API requires.
fn check_tenants(
    records: &[Record],
    steps: &[Step<ContactCenter>],
    environments: &[Step<Environment>],
    stored_envs: &HashMap<String, Environment>,
    stored_ccs: &HashMap<String, ContactCenter>,
    errors: &mut Vec<String>,
) {
    let env_ids: HashSet<&str> = stored_envs
        .keys()
        .map(String::as_str)
        .chain(environments.iter().map(|s| s.id.as_str()))
        .collect();
    let mut owner: HashMap<String, &str> = HashMap::new();
    for c in stored_ccs.values() {
        if !steps.iter().any(|s| s.writes() && s.id == c.id) {
            for d in &c.domains {
                owner.insert(d.to_lowercase(), &c.id);
            }
        }
    }
    let at = |id: &str| {
        records.iter().find(|r| r.id("id") == Some(id)).map_or_else(
            || format!("contact center '{id}'"),
            |r| r.at("contact center", Some(id)),
        )
    };
    for s in steps.iter().filter(|s| s.writes()) {
        let c = &s.record;
        if !env_ids.contains(c.environment_id.as_str()) {
            errors.push(format!(
                "{}: environmentId: environment '{}' does not exist here nor in the export",
                at(&s.id),
                c.environment_id
            ));
        }
        for d in &c.domains {
            if let Some(other) = owner.insert(d.to_lowercase(), &s.id) {
                errors.push(format!(
                    "{}: domains: '{d}' is also a domain of contact center '{other}'",
                    at(&s.id)
                ));
            }
        }
    }
}

fn plan_client(
    r: &Record,
    stored: &HashMap<String, Client>,
    secrets: &HashMap<String, String>,
    rules: &ClientRules,
    update: bool,
) -> Result<Step<Client>, String> {
    let mut d: ClientInput = r.parse()?;
    let mut c = clients::new_client_of(&d).map_err(|e| e.message)?;
    let id = c.client_id.clone();
    if d.client_secret.as_deref().unwrap_or_default().is_empty() {
        d.client_secret = secrets.get(&id).cloned();
    }
    let Some(old) = stored.get(&id) else {
        let outcome = clients::apply_input(&mut c, d, true, rules).map_err(|e| e.message)?;
        let mut step = Step::new(id, Action::Create, c);
        step.weak_secret = outcome.weak;
        if outcome.generated.is_some() {
            step.notes.push(format!(
                "no secret in the export: a random one is set (not shown); give the client's \
                 with --client-secrets-file or PUT /auth/v3/ops/clients/{}",
                step.id
            ));
        }
        if outcome.weak {
            step.notes.push(weak_note());
        }
        return Ok(step);
    };
    // The secret given is the stored one: nothing to change (its hash,
    // salted anew, would always differ).
    if d.client_secret
        .as_deref()
        .is_some_and(|s| same_secret(old, s))
    {
        d.client_secret = None;
    }
    let secret_given = d.client_secret.as_deref().is_some_and(|s| !s.is_empty());
    let mut c = old.clone();
    let outcome = clients::apply_input(&mut c, d, false, rules).map_err(|e| e.message)?;
    let mut changed = changes(&ClientView::of(old, None), &ClientView::of(&c, None));
    if secret_given {
        changed.push("client_secret".into());
    }
    let mut step = Step::compared(id, c, changed, update);
    step.weak_secret = outcome.weak && step.writes();
    if step.weak_secret {
        step.notes.push(weak_note());
    }
    Ok(step)
}

fn weak_note() -> String {
    format!(
        "secret shorter than {MIN_CLIENT_SECRET} characters, accepted because \
         --min-client-secret-length is lowered (audited as client.weak_secret)"
    )
}

fn same_secret(c: &Client, secret: &str) -> bool {
    c.secret_hash
        .as_deref()
        .is_some_and(|h| tollgate_core::secrets::verify_hash(h, secret))
        || c.hmac_secret.as_ref().is_some_and(|h| h.expose() == secret)
}

/// The fields (as the API names them) whose values differ, bookkeeping
/// (version, times) aside.
fn changes<V: Serialize>(old: &V, new: &V) -> Vec<String> {
    let (Ok(Value::Object(old)), Ok(Value::Object(new))) =
        (serde_json::to_value(old), serde_json::to_value(new))
    else {
        return vec![];
    };
    let keys: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    keys.into_iter()
        .filter(|k| !["version", "createdAt", "updatedAt"].contains(&k.as_str()))
        .filter(|k| old.get(*k) != new.get(*k))
        .cloned()
        .collect()
}

// -- report and writes -----------------------------------------------------

fn report(plan: &Plan) -> String {
    let mut lines: Vec<String> = vec![];
    lines.extend(plan.environments.iter().map(|s| s.line("environment", "")));
    lines.extend(plan.contact_centers.iter().map(|s| {
        let c = &s.record;
        let detail = format!(
            " (domains {}; environment {})",
            c.domains.join(", "),
            c.environment_id
        );
        s.line("contact center", &detail)
    }));
    lines.extend(plan.clients.iter().map(|s| s.line("client", "")));
    lines.push(format!(
        "{} to create, {} to update, {} unchanged, {} differing and skipped",
        count(plan, |a| a == Action::Create),
        count(plan, |a| a == Action::Update),
        count(plan, |a| a == Action::Unchanged),
        count(plan, |a| a == Action::Skip),
    ));
    lines.join("\n")
}

fn count(plan: &Plan, which: impl Fn(Action) -> bool) -> usize {
    let actions = plan
        .environments
        .iter()
        .map(|s| s.action)
        .chain(plan.contact_centers.iter().map(|s| s.action))
        .chain(plan.clients.iter().map(|s| s.action));
    actions.filter(|a| which(*a)).count()
}

/// Environments, then their contact centers, then the clients bound to
/// them, each with the store's own write; the audit trail records each.
/// Everything was checked first, so a failure here is the database's (or
/// a concurrent write's): the error says how far the import got.
async fn write(db: &Db, plan: &Plan, min_secret_length: usize) -> anyhow::Result<usize> {
    let mut audit = vec![];
    let result = write_steps(db, plan, min_secret_length, &mut audit).await;
    let done = audit
        .iter()
        .filter(|e| e.kind != "client.weak_secret")
        .count();
    db.insert_audit_events(&audit)
        .await
        .context("recording the import in the audit trail")?;
    result.map_err(|e| {
        e.context(format!(
            "the import stopped after {done} write(s); run it again to finish"
        ))
    })?;
    Ok(done)
}

async fn write_steps(
    db: &Db,
    plan: &Plan,
    min_secret_length: usize,
    audit: &mut Vec<AuditEvent>,
) -> anyhow::Result<()> {
    for s in plan.environments.iter().filter(|s| s.writes()) {
        let kind = match s.action {
            Action::Create => db
                .create_environment(&s.record)
                .await
                .map(|_| "environment.created"),
            _ => db
                .update_environment(&s.record)
                .await
                .map(|_| "environment.updated"),
        }
        .with_context(|| format!("writing environment '{}'", s.id))?;
        audit.push(event(kind, None, None, json!({"environment_id": s.id})));
    }
    for s in plan.contact_centers.iter().filter(|s| s.writes()) {
        let kind = match s.action {
            Action::Create => db
                .create_contact_center(&s.record)
                .await
                .map(|_| "contact_center.created"),
            _ => db
                .update_contact_center(&s.record)
                .await
                .map(|_| "contact_center.updated"),
        }
        .with_context(|| format!("writing contact center '{}'", s.id))?;
        audit.push(event(kind, None, Some(&s.id), json!({})));
    }
    for s in plan.clients.iter().filter(|s| s.writes()) {
        let kind = match s.action {
            Action::Create => db.create_client(&s.record).await.map(|_| "client.created"),
            _ => db.update_client(&s.record).await.map(|_| "client.updated"),
        }
        .with_context(|| format!("writing client '{}'", s.id))?;
        audit.push(event(kind, Some(&s.id), None, json!({})));
        if s.weak_secret {
            audit.push(event(
                "client.weak_secret",
                Some(&s.id),
                None,
                json!({
                    "default_minimum": MIN_CLIENT_SECRET,
                    "configured_minimum": min_secret_length,
                }),
            ));
        }
    }
    Ok(())
}

fn event(kind: &str, client: Option<&str>, cc: Option<&str>, detail: Value) -> AuditEvent {
    AuditEvent {
        at: now(),
        kind: kind.into(),
        client_id: client.map(str::to_string),
        contact_center_id: cc.map(str::to_string),
        subject: Some(SUBJECT.into()),
        ip: None,
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_or_an_array_is_read_and_anything_else_named() {
        let answer = br#"{"status": {"code": 0}, "data": [{"id": "a"}, {"id": "b"}]}"#;
        let list = records("x.json", answer).map(|l| l.len());
        assert_eq!(list.ok(), Some(2));
        assert_eq!(records("x.json", b"[]").map(|l| l.len()).ok(), Some(0));
        for (body, says) in [
            (
                &br#"{"status": {"code": 401}, "data": []}"#[..],
                "status.code 401",
            ),
            (
                &br#"{"data": {"id": "a"}}"#[..],
                "expected the API's answer",
            ),
            (&b"{"[..], "line 1"),
        ] {
            let Err(e) = records("x.json", body) else {
                panic!("accepted {}", String::from_utf8_lossy(body));
            };
            let e = e.to_string();
            assert!(e.starts_with("x.json: ") && e.contains(says), "{e}");
        }
    }

    #[test]
    fn changes_name_the_fields_and_ignore_bookkeeping() {
        let old = json!({"a": 1, "b": [1], "version": 1, "updatedAt": 5});
        let new = json!({"a": 1, "b": [1, 2], "version": 2, "updatedAt": 6});
        assert_eq!(changes(&old, &new), vec!["b".to_string()]);
        assert!(changes(&old, &old).is_empty());
    }

    #[test]
    fn a_secret_is_never_echoed_in_a_record_error() {
        let r = Record {
            source: "clients.json".into(),
            index: 0,
            value: json!({"client_id": "c", "client_secret": 123456789}),
        };
        let Err(e) = r.parse::<ClientInput>() else {
            panic!("a number was accepted as a secret");
        };
        assert!(!e.contains("123456789"), "{e}");
    }
}
