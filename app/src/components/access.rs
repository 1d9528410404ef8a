//! The access page (`/access`): your account, your password and your
//! sessions for everyone signed in; users, API tokens and the audit log for
//! admins.
//!
//! Owns: what each section shows and asks. Does not own who may do what:
//! the server refuses every call a role may not make, whatever this page
//! shows; the page only leaves out what the caller could not use. Lists
//! are loaded by the browser (server functions in `crate::api`), so the
//! server's HTML shows the account at once and the lists once the WASM
//! runs; every removal asks first, naming what goes.

use super::dialog::ConfirmDialog;
use super::{account, Header, When};
use crate::access::{
    AuditEntry, AuditQuery, CallerKind, NewToken, Role, SessionInfo, TokenInfo, TokenRequest, UserChange, UserInfo,
};
use crate::api::{
    load_audit, load_sessions, load_tokens, load_users, session_end, sessions_end_all, token_create, token_revoke,
    user_add, user_remove, user_update, PasswordChange,
};
use crate::model::ApiError;
use crate::state::{login_url, Dashboard, View};
use leptos::prelude::*;

/// What a role may do, in one line a person can read.
pub fn abilities(role: Role) -> &'static str {
    match role {
        Role::Viewer => "Look at everything; change nothing.",
        Role::Operator => "Look at everything, switch outlets and change rules.",
        Role::Admin => "Everything an operator may, and manage users, API tokens and settings; read the audit log.",
    }
}

/// "Firefox on Linux" from a user agent; the whole string is in the title.
pub fn browser_of(agent: &str) -> String {
    let browser = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chromium/", "Chromium"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ]
    .iter()
    .find(|(key, _)| agent.contains(key))
    .map(|(_, name)| *name);
    let system = [
        ("Android", "Android"),
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(key, _)| agent.contains(key))
    .map(|(_, name)| *name);
    match (browser, system) {
        (Some(b), Some(s)) => format!("{b} on {s}"),
        (Some(b), None) => b.to_owned(),
        (None, Some(s)) => format!("A browser on {s}"),
        (None, None) if agent.is_empty() => "Unknown browser".to_owned(),
        (None, None) => agent.chars().take(40).collect(),
    }
}

/// Send the browser to the sign-in page (its session is gone).
fn to_login() {
    #[cfg(feature = "hydrate")]
    {
        let _ = window().location().set_href(&login_url(View::ACCESS_PATH));
    }
}

/// A moment from unix seconds.
fn when(ts: f64) -> impl IntoView {
    view! { <When ms=(ts.max(0.0) * 1000.0) as u64/> }
}

fn when_or(ts: Option<f64>, none: &'static str) -> AnyView {
    match ts {
        Some(ts) => when(ts).into_any(),
        None => view! { <span class="muted">{none}</span> }.into_any(),
    }
}

/// A panel's last word: done (`false`) or what went wrong (`true`).
pub(super) type Said = RwSignal<Option<(bool, String)>>;

/// Where a panel says it (read out by screen readers as it changes).
pub(super) fn said(message: Said) -> impl IntoView {
    view! {
        <p class="toast" role="status" aria-live="polite">
            {move || message.get().map(|(is_error, text)| view! {
                <span class=if is_error { "error" } else { "ok" }>{text}</span>
            })}
        </p>
    }
}

/// The role `<select>` of a form.
#[component]
fn RoleSelect(
    #[prop(into)] id: String,
    value: RwSignal<Role>,
    #[prop(optional)] label: Option<String>,
) -> impl IntoView {
    let on_change = move |ev: leptos::ev::Event| {
        if let Ok(role) = event_target_value(&ev).parse::<Role>() {
            value.set(role);
        }
    };
    view! {
        <select id=id aria-label=label on:change=on_change>
            {Role::ALL
                .iter()
                .map(|r| view! { <option value=r.label() selected=move || value.get() == *r>{r.label()}</option> })
                .collect_view()}
        </select>
    }
}

#[component]
pub fn AccessPage() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let caller = dash.caller.get_value();
    let signed_in = caller.as_ref().is_some_and(|c| c.kind != CallerKind::Anonymous);
    let admin = signed_in && dash.may(Role::Admin);
    let body = if signed_in {
        view! {
            <YourAccount/>
            <YourSessions/>
            {admin.then(|| view! {
                <UserAdmin/>
                <TokenAdmin/>
                <AuditLog/>
            })}
        }
        .into_any()
    } else {
        view! {
            <section class="card" id="account" aria-labelledby="account-title">
                <h2 id="account-title">"Your account"</h2>
                <p>
                    "You are viewing without signing in (read only). "
                    <a href=login_url(View::ACCESS_PATH)>"Sign in"</a>
                    " to see your account and sessions."
                </p>
            </section>
        }
        .into_any()
    };
    view! {
        <a class="skip-link" href="#content">"Skip to your account"</a>
        <Header/>
        <main id="content" tabindex="-1" class="page access">
            <account::SessionEnded/>
            <super::alarms::AlarmBanner/>
            {body}
        </main>
    }
}

/// Name, role and what it may do; and a new password.
#[component]
fn YourAccount() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let Some(caller) = dash.caller.get_value() else { return ().into_any() };
    let is_user = caller.kind == CallerKind::User;
    view! {
        <section class="card" id="account" aria-labelledby="account-title">
            <h2 id="account-title">"Your account"</h2>
            <dl class="facts" data-testid="account-facts">
                <dt>"Name"</dt>
                <dd>{caller.name.clone()}</dd>
                <dt>"Role"</dt>
                <dd>{caller.role.label()}</dd>
                <dt>"May"</dt>
                <dd>{abilities(caller.role)}</dd>
                {caller.from.clone().map(|from| view! { <dt>"Signed in from"</dt><dd>{from}</dd> })}
            </dl>
            {is_user.then(|| view! { <PasswordForm/> })}
        </section>
    }
    .into_any()
}

#[component]
fn PasswordForm() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let password = RwSignal::new(String::new());
    let again = RwSignal::new(String::new());
    let message: Said = RwSignal::new(None);
    let change = ServerAction::<PasswordChange>::new();
    Effect::new(move |_| {
        let Some(result) = change.value().get() else { return };
        untrack(move || match result {
            Ok(()) => {
                password.set(String::new());
                again.set(String::new());
                message.set(Some((false, "Password changed. Other sessions keep going until they sign out.".into())));
            }
            Err(e) => message.set(Some((true, dash.explain(&e)))),
        });
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (new, repeated) = (password.get_untracked(), again.get_untracked());
        if new != repeated {
            message.set(Some((true, "The two passwords differ; nothing was changed.".into())));
            return;
        }
        message.set(None);
        change.dispatch(PasswordChange { password: new });
    };
    view! {
        <form class="access-form" method="post" on:submit=submit aria-labelledby="password-title">
            <h3 id="password-title">"Change your password"</h3>
            <div class="form-grid">
                <label class="field">
                    "New password"
                    <input type="password" autocomplete="new-password" required bind:value=password data-testid="new-password"/>
                </label>
                <label class="field">
                    "New password again"
                    <input type="password" autocomplete="new-password" required bind:value=again data-testid="new-password-again"/>
                </label>
            </div>
            {said(message)}
            <button type="submit" class="primary" disabled=move || !dash.hydrated.get() || change.pending().get()>
                "Change password"
            </button>
        </form>
    }
}

/// Your sessions: where, when, which browser; sign one out, or all.
#[component]
fn YourSessions() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let sessions = LocalResource::new(move || load_sessions(false));
    let message: Said = RwSignal::new(None);
    let ask_all = RwSignal::new(false);
    let end_one = move |s: SessionInfo| {
        leptos::task::spawn_local(async move {
            match session_end(s.id.clone()).await {
                Ok(()) if s.current => to_login(),
                Ok(()) => {
                    message.set(Some((false, "That session is signed out.".into())));
                    sessions.refetch();
                }
                Err(e) => message.set(Some((true, dash.explain(&e)))),
            }
        });
    };
    let end_all = Callback::new(move |_| {
        ask_all.set(false);
        leptos::task::spawn_local(async move {
            match sessions_end_all().await {
                Ok(_) => to_login(),
                Err(e) => message.set(Some((true, dash.explain(&e)))),
            }
        });
    });
    let rows = move || {
        match sessions.get() {
        None => view! { <p class="muted">"Loading your sessions…"</p> }.into_any(),
        Some(Err(e)) => view! { <p class="error-note">{dash.explain(&e)}</p> }.into_any(),
        Some(Ok(list)) => view! {
            <div class="table-wrap">
                <table class="access-table" data-testid="session-list">
                    <caption class="visually-hidden">"Your sessions"</caption>
                    <thead>
                        <tr>
                            <th scope="col">"Browser"</th>
                            <th scope="col">"From"</th>
                            <th scope="col">"Signed in"</th>
                            <th scope="col">"Last seen"</th>
                            <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                        </tr>
                    </thead>
                    <tbody>
                        {list
                            .into_iter()
                            .map(|s| {
                                let agent = s.user_agent.clone().unwrap_or_default();
                                let browser = browser_of(&agent);
                                let from = s.from.clone().unwrap_or_else(|| "unknown address".into());
                                let label = if s.current {
                                    "Sign out this browser".to_owned()
                                } else {
                                    format!("Sign out the session of {browser} from {from}")
                                };
                                let current = s.current;
                                let row = s.clone();
                                view! {
                                    <tr class:current=current data-testid=if current { "session-current" } else { "session" }>
                                        <th scope="row" title=agent>
                                            {browser}
                                            {current.then(|| view! { <span class="tag">"this browser"</span> })}
                                        </th>
                                        <td>{from}</td>
                                        <td>{when(s.created)}</td>
                                        <td>{when(s.last_seen)}</td>
                                        <td>
                                            <button type="button" aria-label=label on:click=move |_| end_one(row.clone())>
                                                "Sign out"
                                            </button>
                                        </td>
                                    </tr>
                                }
                            })
                            .collect_view()}
                    </tbody>
                </table>
            </div>
        }
        .into_any(),
    }
    };
    view! {
        <section class="card" id="sessions" aria-labelledby="sessions-title">
            <div class="card-head">
                <h2 id="sessions-title">"Your sessions"</h2>
                <button type="button" class="danger" data-testid="sign-out-everywhere" on:click=move |_| ask_all.set(true)>
                    "Sign out everywhere"
                </button>
            </div>
            <p class="muted small">"Every browser you are signed in with. API tokens are not sessions: they stay until revoked."</p>
            {said(message)}
            {rows}
            <ConfirmDialog
                open=ask_all
                title=Signal::derive(|| "Sign out everywhere?".to_owned())
                body=Signal::derive(|| "Every session of yours ends, this one too: each browser must sign in again.".to_owned())
                confirm_label=Signal::derive(|| "Sign out everywhere".to_owned())
                danger=Signal::derive(|| true)
                on_confirm=end_all
                on_cancel=Callback::new(move |_| ask_all.set(false))
                id="sign-out-all"
                testid="sign-out-all-dialog"
            />
        </section>
    }
}

/// Users: list, add, change role, set a password, remove.
#[component]
fn UserAdmin() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let users = LocalResource::new(load_users);
    let message: Said = RwSignal::new(None);
    let removing = RwSignal::new(None::<String>);
    let name = RwSignal::new(String::new());
    let role = RwSignal::new(Role::Viewer);
    let password = RwSignal::new(String::new());
    let me = dash.caller.with_value(|c| c.as_ref().map(|c| c.name.clone()).unwrap_or_default());
    let done = move |result: Result<String, ApiError>| match result {
        Ok(text) => {
            message.set(Some((false, text)));
            users.refetch();
        }
        Err(e) => message.set(Some((true, dash.explain(&e)))),
    };
    let add = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let change = UserChange {
            name: Some(name.get_untracked().trim().to_owned()),
            role: Some(role.get_untracked()),
            password: Some(password.get_untracked()),
        };
        leptos::task::spawn_local(async move {
            let result = user_add(change).await.map(|u| {
                name.set(String::new());
                password.set(String::new());
                format!("User “{}” added as {}.", u.name, u.role)
            });
            done(result);
        });
    };
    let remove = Callback::new(move |_| {
        let Some(user) = removing.get_untracked() else { return };
        removing.set(None);
        leptos::task::spawn_local(async move {
            let result = user_remove(user.clone()).await.map(|()| format!("User “{user}” removed."));
            done(result);
        });
    });
    let row_done = Callback::new(done);
    let list = move || match users.get() {
        None => view! { <p class="muted">"Loading users…"</p> }.into_any(),
        Some(Err(e)) => view! { <p class="error-note">{dash.explain(&e)}</p> }.into_any(),
        Some(Ok(list)) => {
            let me = me.clone();
            view! {
                <div class="table-wrap">
                    <table class="access-table" data-testid="user-list">
                        <caption class="visually-hidden">"Users"</caption>
                        <thead>
                            <tr>
                                <th scope="col">"Name"</th>
                                <th scope="col">"Role"</th>
                                <th scope="col">"Added"</th>
                                <th scope="col">"Last sign-in"</th>
                                <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                            </tr>
                        </thead>
                        <tbody>
                            {list
                                .into_iter()
                                .map(|user| {
                                    let is_me = user.name == me;
                                    view! { <UserRow user is_me removing done=row_done/> }
                                })
                                .collect_view()}
                        </tbody>
                    </table>
                </div>
            }
            .into_any()
        }
    };
    let question = Signal::derive(move || removing.get().map(|n| format!("Remove user “{n}”?")).unwrap_or_default());
    let body = Signal::derive(move || {
        removing
            .get()
            .map(|n| {
                format!(
                    "“{n}” can no longer sign in and every session of theirs ends. The audit log keeps what they did."
                )
            })
            .unwrap_or_default()
    });
    let label = Signal::derive(move || removing.get().map(|n| format!("Remove “{n}”")).unwrap_or_default());
    view! {
        <section class="card" id="users" aria-labelledby="users-title">
            <h2 id="users-title">"Users"</h2>
            {said(message)}
            {list}
            <form class="access-form" method="post" on:submit=add aria-labelledby="user-add-title" data-testid="user-add">
                <h3 id="user-add-title">"Add a user"</h3>
                <div class="form-grid">
                    <label class="field">
                        "Name"
                        <input autocomplete="off" required bind:value=name data-testid="user-name"/>
                        <small>"Letters, digits, “.”, “-” and “_”."</small>
                    </label>
                    <div class="field">
                        <label for="user-add-role">"Role"</label>
                        <RoleSelect id="user-add-role" value=role/>
                        <small>{move || abilities(role.get())}</small>
                    </div>
                    <label class="field">
                        "Password"
                        <input type="password" autocomplete="new-password" required bind:value=password data-testid="user-password"/>
                    </label>
                </div>
                <button type="submit" class="primary" disabled=move || !dash.hydrated.get()>"Add user"</button>
            </form>
            <ConfirmDialog
                open=Signal::derive(move || removing.with(Option::is_some))
                title=question
                body
                confirm_label=label
                danger=Signal::derive(|| true)
                on_confirm=remove
                on_cancel=Callback::new(move |_| removing.set(None))
                id="user-remove"
                testid="user-remove-dialog"
            />
        </section>
    }
}

#[component]
fn UserRow(
    user: UserInfo,
    /// The admin looking: their own row cannot be removed from here.
    is_me: bool,
    removing: RwSignal<Option<String>>,
    done: Callback<Result<String, ApiError>>,
) -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let role = RwSignal::new(user.role);
    let password = RwSignal::new(String::new());
    let name = StoredValue::new(user.name.clone());
    let save_role = move |_| {
        let change = UserChange { name: None, role: Some(role.get_untracked()), password: None };
        leptos::task::spawn_local(async move {
            let user = name.get_value();
            let result = user_update(user, change).await.map(|u| format!("“{}” is now {}.", u.name, u.role));
            done.run(result);
        });
    };
    let set_password = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let change = UserChange { name: None, role: None, password: Some(password.get_untracked()) };
        leptos::task::spawn_local(async move {
            let user = name.get_value();
            let result = user_update(user, change).await.map(|u| {
                password.set(String::new());
                format!("New password set for “{}”.", u.name)
            });
            done.run(result);
        });
    };
    let key = user.name.clone();
    let role_id = format!("user-role-{key}");
    view! {
        <tr data-testid=format!("user-{key}")>
            <th scope="row">{key.clone()} {is_me.then(|| view! { <span class="tag">"you"</span> })}</th>
            <td>
                <div class="inline-edit">
                    <RoleSelect id=role_id value=role label=format!("Role of {key}")/>
                    <button
                        type="button"
                        aria-label=format!("Save the role of {key}")
                        disabled=move || role.get() == user.role || !dash.hydrated.get()
                        on:click=save_role
                    >
                        "Save role"
                    </button>
                </div>
            </td>
            <td>{when(user.created)}</td>
            <td>{when_or(user.last_login, "never")}</td>
            <td>
                <div class="row-actions">
                    <details class="more">
                        <summary aria-label=format!("Set a new password for {key}")>"New password…"</summary>
                        <form class="inline-edit" method="post" on:submit=set_password>
                            <label class="field">
                                {format!("New password for {key}")}
                                <input type="password" autocomplete="new-password" required bind:value=password/>
                            </label>
                            <button type="submit" disabled=move || !dash.hydrated.get()>"Set password"</button>
                        </form>
                    </details>
                    {(!is_me).then(|| {
                        let who = key.clone();
                        view! {
                            <button
                                type="button"
                                class="cmd-off"
                                aria-label=format!("Remove user {who}")
                                on:click=move |_| removing.set(Some(who.clone()))
                            >
                                "Remove"
                            </button>
                        }
                    })}
                </div>
            </td>
        </tr>
    }
}

/// API tokens: list, create (the secret shown once), revoke.
#[component]
fn TokenAdmin() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let tokens = LocalResource::new(load_tokens);
    let message: Said = RwSignal::new(None);
    let created = RwSignal::new(None::<NewToken>);
    let revoking = RwSignal::new(None::<TokenInfo>);
    let name = RwSignal::new(String::new());
    let role = RwSignal::new(Role::Viewer);
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let request = TokenRequest { name: name.get_untracked().trim().to_owned(), role: role.get_untracked() };
        message.set(None);
        leptos::task::spawn_local(async move {
            match token_create(request).await {
                Ok(token) => {
                    name.set(String::new());
                    created.set(Some(token));
                    tokens.refetch();
                }
                Err(e) => message.set(Some((true, dash.explain(&e)))),
            }
        });
    };
    let revoke = Callback::new(move |_| {
        let Some(token) = revoking.get_untracked() else { return };
        revoking.set(None);
        leptos::task::spawn_local(async move {
            match token_revoke(token.id.clone()).await {
                Ok(()) => {
                    message.set(Some((false, format!("Token “{}” revoked: it no longer works.", token.name))));
                    tokens.refetch();
                }
                Err(e) => message.set(Some((true, dash.explain(&e)))),
            }
        });
    });
    let list = move || match tokens.get() {
        None => view! { <p class="muted">"Loading tokens…"</p> }.into_any(),
        Some(Err(e)) => view! { <p class="error-note">{dash.explain(&e)}</p> }.into_any(),
        Some(Ok(list)) if list.is_empty() => {
            view! { <p class="muted" data-testid="token-list">"No API tokens yet."</p> }.into_any()
        }
        Some(Ok(list)) => view! {
            <div class="table-wrap">
                <table class="access-table" data-testid="token-list">
                    <caption class="visually-hidden">"API tokens"</caption>
                    <thead>
                        <tr>
                            <th scope="col">"Name"</th>
                            <th scope="col">"Role"</th>
                            <th scope="col">"Id"</th>
                            <th scope="col">"Created by"</th>
                            <th scope="col">"Created"</th>
                            <th scope="col">"Last used"</th>
                            <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                        </tr>
                    </thead>
                    <tbody>
                        {list
                            .into_iter()
                            .map(|t| {
                                let token = t.clone();
                                view! {
                                    <tr data-testid=format!("token-{}", t.name)>
                                        <th scope="row">{t.name.clone()}</th>
                                        <td>{t.role.label()}</td>
                                        <td><code>{t.id.clone()}</code></td>
                                        <td>{t.created_by.clone()}</td>
                                        <td>{when(t.created)}</td>
                                        <td>{when_or(t.last_used, "never")}</td>
                                        <td>
                                            <button
                                                type="button"
                                                class="cmd-off"
                                                aria-label=format!("Revoke token {}", t.name)
                                                on:click=move |_| revoking.set(Some(token.clone()))
                                            >
                                                "Revoke"
                                            </button>
                                        </td>
                                    </tr>
                                }
                            })
                            .collect_view()}
                    </tbody>
                </table>
            </div>
        }
        .into_any(),
    };
    let shown_once = move || {
        created.get().map(|t| {
            view! {
                <div class="token-once" role="status" data-testid="new-token">
                    <h3>{format!("Token “{}” ({}) created", t.info.name, t.info.role)}</h3>
                    <label class="field" for="new-token-value">"The token"</label>
                    <input id="new-token-value" class="token-value" readonly value=t.token.clone() data-testid="new-token-value"/>
                    <p>
                        <strong>"Copy it now: it will not be shown again."</strong>
                        " Scripts send it as " <code>"Authorization: Bearer …"</code> "."
                    </p>
                    <button type="button" on:click=move |_| created.set(None)>"I have copied it"</button>
                </div>
            }
        })
    };
    let question =
        Signal::derive(move || revoking.get().map(|t| format!("Revoke token “{}”?", t.name)).unwrap_or_default());
    let label = Signal::derive(move || revoking.get().map(|t| format!("Revoke “{}”", t.name)).unwrap_or_default());
    view! {
        <section class="card" id="tokens" aria-labelledby="tokens-title">
            <h2 id="tokens-title">"API tokens"</h2>
            <p class="muted small">"For scripts and other tools: each token has a role and can be revoked; the bridge keeps only its hash."</p>
            {said(message)}
            {shown_once}
            {list}
            <form class="access-form" method="post" on:submit=create aria-labelledby="token-add-title" data-testid="token-add">
                <h3 id="token-add-title">"Create a token"</h3>
                <div class="form-grid">
                    <label class="field">
                        "Name"
                        <input autocomplete="off" required bind:value=name data-testid="token-name"/>
                        <small>"What uses it, e.g. backup-script."</small>
                    </label>
                    <div class="field">
                        <label for="token-add-role">"Role"</label>
                        <RoleSelect id="token-add-role" value=role/>
                        <small>{move || abilities(role.get())}</small>
                    </div>
                </div>
                <button type="submit" class="primary" disabled=move || !dash.hydrated.get()>"Create token"</button>
            </form>
            <ConfirmDialog
                open=Signal::derive(move || revoking.with(Option::is_some))
                title=question
                body=Signal::derive(|| "Every script using it is refused from now on. This cannot be undone.".to_owned())
                confirm_label=label
                danger=Signal::derive(|| true)
                on_confirm=revoke
                on_cancel=Callback::new(move |_| revoking.set(None))
                id="token-revoke"
                testid="token-revoke-dialog"
            />
        </section>
    }
}

/// Audit actions an admin can filter by.
const AUDIT_ACTIONS: [(&str, &str); 9] = [
    ("outlet_command", "Outlet commands"),
    ("rule_change", "Rule changes"),
    ("user_change", "User changes"),
    ("token_change", "Token changes"),
    ("session_change", "Session changes"),
    ("login", "Sign-ins"),
    ("logout", "Sign-outs"),
    ("mqtt_command", "MQTT commands"),
    ("mqtt_login", "MQTT sign-ins"),
];
const AUDIT_RESULTS: [(&str, &str); 3] = [("ok", "Done"), ("refused", "Refused"), ("failed", "Failed")];
/// Lines per page of the audit log.
const AUDIT_PAGE: u32 = 50;

/// "✓ ok", "✕ refused", "! failed": a symbol and the word, not only colour.
fn result_mark(result: &str) -> &'static str {
    match result {
        "ok" => "✓",
        "refused" => "✕",
        _ => "!",
    }
}

/// The audit log: newest first, filtered by action and result, older
/// pages on request.
#[component]
fn AuditLog() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let action = RwSignal::new(String::new());
    let result = RwSignal::new(String::new());
    let entries = RwSignal::new(Vec::<AuditEntry>::new());
    let cursor = RwSignal::new(None::<String>);
    let state = RwSignal::new(None::<Result<(), String>>);
    let load = move |older: bool| {
        let query = AuditQuery {
            action: Some(action.get_untracked()).filter(|a| !a.is_empty()),
            result: Some(result.get_untracked()).filter(|r| !r.is_empty()),
            limit: Some(AUDIT_PAGE),
            cursor: if older { cursor.get_untracked() } else { None },
            ..AuditQuery::default()
        };
        if !older {
            state.set(None);
        }
        leptos::task::spawn_local(async move {
            match load_audit(query).await {
                Ok(page) => {
                    entries.update(|all| {
                        if !older {
                            all.clear();
                        }
                        all.extend(page.entries);
                    });
                    cursor.set(page.next_cursor);
                    state.set(Some(Ok(())));
                }
                Err(e) => state.set(Some(Err(dash.explain(&e)))),
            }
        });
    };
    // The first page once the page runs in the browser; again on each filter.
    Effect::new(move |_| {
        action.track();
        result.track();
        load(false);
    });
    let filter = |signal: RwSignal<String>| move |ev: leptos::ev::Event| signal.set(event_target_value(&ev));
    let table = move || match state.get() {
        None => view! { <p class="muted">"Loading the audit log…"</p> }.into_any(),
        Some(Err(e)) => view! { <p class="error-note">{e}</p> }.into_any(),
        Some(Ok(())) if entries.with(Vec::is_empty) => {
            view! { <p class="muted" data-testid="audit-empty">"Nothing recorded that matches."</p> }.into_any()
        }
        Some(Ok(())) => view! {
            // Scrolls sideways on a phone: focusable, so a keyboard can scroll it too.
            <div class="table-wrap" tabindex="0" role="region" aria-label="Audit log entries">
                <table class="access-table audit-table" data-testid="audit-log">
                    <caption class="visually-hidden">"Audit log, newest first"</caption>
                    <thead>
                        <tr>
                            <th scope="col">"When"</th>
                            <th scope="col">"Who"</th>
                            <th scope="col">"From"</th>
                            <th scope="col">"What"</th>
                            <th scope="col">"Target"</th>
                            <th scope="col">"Result"</th>
                            <th scope="col">"Detail"</th>
                        </tr>
                    </thead>
                    <tbody>
                        <For
                            each=move || entries.get()
                            key=|e| e.id
                            children=move |e: AuditEntry| view! {
                                <tr class=format!("audit-{}", e.result)>
                                    <td>{when(e.ts)}</td>
                                    <td>{e.actor.clone()}</td>
                                    <td>{e.from.clone().unwrap_or_else(|| "—".into())}</td>
                                    <td>{e.action.replace('_', " ")}</td>
                                    <td>{e.target.clone()}</td>
                                    <td class="audit-result">
                                        <span aria-hidden="true">{result_mark(&e.result)} " "</span>
                                        {e.result.clone()}
                                    </td>
                                    <td class="audit-detail">{e.detail.clone()}</td>
                                </tr>
                            }
                        />
                    </tbody>
                </table>
            </div>
        }
        .into_any(),
    };
    view! {
        <section class="card" id="audit" aria-labelledby="audit-title">
            <div class="card-head">
                <h2 id="audit-title">"Audit log"</h2>
                <div class="audit-filters">
                    <label class="event-filter">
                        "What "
                        <select on:change=filter(action) data-testid="audit-action">
                            <option value="">"Everything"</option>
                            {AUDIT_ACTIONS.iter().map(|(key, label)| view! { <option value=*key>{*label}</option> }).collect_view()}
                        </select>
                    </label>
                    <label class="event-filter">
                        "Result "
                        <select on:change=filter(result) data-testid="audit-result">
                            <option value="">"Any"</option>
                            {AUDIT_RESULTS.iter().map(|(key, label)| view! { <option value=*key>{*label}</option> }).collect_view()}
                        </select>
                    </label>
                </div>
            </div>
            <p class="muted small">"Who did what, from where, and how it ended; newest first."</p>
            {table}
            <Show when=move || cursor.with(Option::is_some)>
                <button type="button" class="older" data-testid="audit-older" on:click=move |_| load(true)>"Older"</button>
            </Show>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_browser_is_named_in_words() {
        let chrome =
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36";
        assert_eq!(browser_of(chrome), "Chrome on Linux");
        assert_eq!(
            browser_of("Mozilla/5.0 (Windows NT 10.0; rv:133.0) Gecko/20100101 Firefox/133.0"),
            "Firefox on Windows"
        );
        assert_eq!(browser_of("curl/8.5.0"), "curl");
        assert_eq!(browser_of(""), "Unknown browser");
    }
}
