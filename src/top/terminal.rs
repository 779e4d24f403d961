//! The live terminal: ratatui + crossterm drawing of the current view, the fetcher thread, and
//! the keys (1–4, tab, arrows: switch view; q, Esc, Ctrl-C: quit).

use std::io::Stdout;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Context;
use crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use crossterm::{execute, terminal};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table, Tabs};

use super::scrape::{self, Scrape, Target};
use super::view::{Section, State, View, header, sections};
use dnsobs::cmd::ExitStatus;
use dnsobs::cmd::cli::TopArgs;

/// Restores the terminal when dropped (normal exit and errors); the panic hook covers panics
/// (the release profile aborts, so no destructor runs there).
struct TerminalGuard;

fn restore_terminal() {
    let _ = terminal::disable_raw_mode();
    let _ = execute!(
        std::io::stdout(),
        terminal::LeaveAlternateScreen,
        crossterm::cursor::Show
    );
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// The live view: draws on every new scrape, key or resize, until a quit key.
pub(super) fn tui(
    args: &TopArgs,
    t: Target,
    interval: Duration,
    timeout: Duration,
) -> anyhow::Result<ExitStatus> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        hook(info);
    }));
    terminal::enable_raw_mode().context("switching the terminal to raw mode")?;
    let _guard = TerminalGuard;
    let mut term = open()?;
    let rx = fetcher(t, interval, timeout);
    let mut state = State::default();
    let mut view = View::Overview;
    let mut dirty = true;
    loop {
        while let Ok(r) = rx.try_recv() {
            state.update(r);
            dirty = true;
        }
        if dirty {
            term.draw(|f| draw(f, &state, view, args))?;
            dirty = false;
        }
        if event::poll(Duration::from_millis(100))? {
            match input(event::read()?, view) {
                Input::Quit => break,
                Input::Show(v) => {
                    view = v;
                    dirty = true;
                }
                Input::Redraw => dirty = true,
                Input::None => {}
            }
        }
    }
    drop(term);
    Ok(ExitStatus::Ok)
}

/// The alternate screen, cleared (raw mode is already on).
fn open() -> anyhow::Result<Terminal<CrosstermBackend<Stdout>>> {
    execute!(std::io::stdout(), terminal::EnterAlternateScreen)?;
    let backend = CrosstermBackend::new(std::io::stdout());
    let mut term = Terminal::new(backend)?;
    term.clear()?;
    Ok(term)
}

/// The fetcher thread: one result per interval; it ends when the receiver is gone.
fn fetcher(
    t: Target,
    interval: Duration,
    timeout: Duration,
) -> mpsc::Receiver<Result<Scrape, String>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        loop {
            let start = Instant::now();
            let r = scrape::scrape(&t, timeout).map_err(|e| format!("{e:#}"));
            if tx.send(r).is_err() {
                return;
            }
            std::thread::sleep(interval.saturating_sub(start.elapsed()));
        }
    });
    rx
}

/// What a terminal event asks for.
enum Input {
    Quit,
    /// Switch to this view.
    Show(View),
    /// The terminal was resized.
    Redraw,
    None,
}

fn input(ev: Event, view: View) -> Input {
    let Event::Key(k) = ev else {
        return if matches!(ev, Event::Resize(..)) {
            Input::Redraw
        } else {
            Input::None
        };
    };
    if k.kind == KeyEventKind::Release {
        return Input::None;
    }
    match k.code {
        KeyCode::Char('q') | KeyCode::Esc => Input::Quit,
        KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => Input::Quit,
        KeyCode::Tab | KeyCode::Right => Input::Show(view.next()),
        KeyCode::BackTab | KeyCode::Left => Input::Show(view.next().next().next()),
        KeyCode::Char(c @ '1'..='4') => Input::Show(View::ALL[(c as usize) - ('1' as usize)]),
        _ => Input::None,
    }
}

/// One frame: the header lines, the view tabs, the view's tables, the key help.
fn draw(f: &mut ratatui::Frame<'_>, state: &State, view: View, args: &TopArgs) {
    let head = header(state, &args.url, args.interval);
    let area = f.area();
    let [top, tabs, body, foot] = Layout::vertical([
        Constraint::Length(head.len() as u16),
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(area);
    f.render_widget(Paragraph::new(header_lines(&head)), top);
    let selected = View::ALL.iter().position(|v| *v == view).unwrap_or(0);
    f.render_widget(
        Tabs::new(View::ALL.iter().map(|v| v.title()))
            .select(selected)
            .highlight_style(Style::default().add_modifier(Modifier::REVERSED)),
        tabs,
    );
    let rows_fit = body.height.saturating_sub(3) as usize;
    let secs = sections(state, view, rows_fit.max(1));
    let cells = cells(view, &secs, body);
    for (s, cell) in secs.iter().zip(cells.iter()) {
        f.render_widget(table(s), *cell);
    }
    f.render_widget(Paragraph::new("1-4/tab: switch view   q: quit"), foot);
}

/// The header lines; "daemon unreachable" in bold red.
fn header_lines(head: &[String]) -> Vec<Line<'static>> {
    head.iter()
        .map(|l| {
            if l.starts_with("daemon unreachable") {
                Line::styled(
                    l.clone(),
                    Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
                )
            } else {
                Line::raw(l.clone())
            }
        })
        .collect()
}

/// The areas of the tables: stacked (overview, capture) or side by side.
fn cells(view: View, secs: &[Section], body: Rect) -> Rc<[Rect]> {
    let dir = if view == View::Overview || view == View::Capture {
        Direction::Vertical
    } else {
        Direction::Horizontal
    };
    let constraints: Vec<Constraint> = if dir == Direction::Vertical {
        secs.iter()
            .map(|s| Constraint::Length(s.rows.len().max(1) as u16 + 3))
            .collect()
    } else {
        secs.iter()
            .map(|_| Constraint::Ratio(1, secs.len() as u32))
            .collect()
    };
    Layout::default()
        .direction(dir)
        .constraints(constraints)
        .split(body)
}

/// A section as a bordered table: the first column as wide as its longest cell (at most 48),
/// the others right-aligned, at least 10 wide.
fn table(s: &Section) -> Table<'static> {
    let first = s
        .rows
        .iter()
        .map(|r| r[0].chars().count())
        .chain([s.header[0].len()])
        .max()
        .unwrap_or(8)
        .min(48) as u16;
    let mut widths = vec![Constraint::Length(first)];
    widths.extend(
        s.header[1..]
            .iter()
            .map(|h| Constraint::Length(h.len().max(10) as u16)),
    );
    let rows: Vec<Row<'static>> = s
        .rows
        .iter()
        .map(|r| {
            Row::new(r.iter().enumerate().map(|(i, c)| {
                if i == 0 {
                    c.clone()
                } else {
                    format!("{c:>w$}", w = s.header[i].len().max(10))
                }
            }))
        })
        .collect();
    let head = Row::new(s.header.iter().enumerate().map(|(i, h)| {
        if i == 0 {
            (*h).to_owned()
        } else {
            format!("{h:>w$}", w = h.len().max(10))
        }
    }))
    .style(Style::default().add_modifier(Modifier::BOLD));
    Table::new(rows, widths)
        .header(head)
        .column_spacing(2)
        .block(
            Block::default()
                .borders(Borders::ALL)
                .title(s.title.clone()),
        )
}
