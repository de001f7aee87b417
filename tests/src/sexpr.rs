//! The expression language of `conformance/FORMAT.md` §3: a tokenizer and a recursive-descent
//! parser. Errors name the byte offset and what was expected, so a malformed case is easy to
//! find.

use std::fmt;

use tensile_core::DType;

/// A parsed expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// A scalar literal in operand position (weak: it takes the other operand's dtype).
    Num(f64),
    /// An input name.
    Name(String),
    /// `(op operand... :keyword value...)`.
    Call(Call),
}

/// An op applied to positional operands and keyword arguments.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    /// The op name (first symbol after `(`).
    pub op: String,
    /// The operands, in order.
    pub args: Vec<Expr>,
    /// The keyword arguments, in source order, without the leading `:`; each name once.
    pub kwargs: Vec<(String, KwValue)>,
}

/// The value of a keyword argument.
#[derive(Clone, Debug, PartialEq)]
pub enum KwValue {
    /// An integer.
    Int(i64),
    /// `true` or `false`.
    Bool(bool),
    /// A dtype name.
    DType(DType),
    /// `(i j ...)`, possibly empty.
    List(Vec<i64>),
}

impl fmt::Display for KwValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KwValue::Int(i) => write!(f, "{i}"),
            KwValue::Bool(b) => write!(f, "{b}"),
            KwValue::DType(d) => write!(f, "{d}"),
            KwValue::List(l) => write!(f, "{l:?}"),
        }
    }
}

/// A syntax error at a byte offset of the source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// Byte offset into the expression.
    pub pos: usize,
    /// What went wrong.
    pub msg: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "syntax error at offset {}: {}", self.pos, self.msg)
    }
}

impl std::error::Error for ParseError {}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Tok<'a> {
    Open,
    Close,
    Num(&'a str),
    Keyword(&'a str),
    Symbol(&'a str),
}

impl fmt::Display for Tok<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Open => f.write_str("`(`"),
            Tok::Close => f.write_str("`)`"),
            Tok::Num(s) | Tok::Symbol(s) => write!(f, "`{s}`"),
            Tok::Keyword(k) => write!(f, "`:{k}`"),
        }
    }
}

fn is_number(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > start
    };
    if !digits(&mut i) {
        return false;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if !digits(&mut i) {
            return false;
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if !digits(&mut i) {
            return false;
        }
    }
    i == b.len()
}

fn is_symbol(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
}

fn is_keyword(s: &str) -> bool {
    s.len() > 1 && s.starts_with(':') && s[1..].chars().all(|c| c.is_ascii_lowercase() || c == '_')
}

fn tokenize(src: &str) -> Result<Vec<(usize, Tok<'_>)>, ParseError> {
    let mut out = Vec::new();
    let mut it = src.char_indices().peekable();
    while let Some(&(pos, c)) = it.peek() {
        match c {
            ' ' | '\t' | '\n' | '\r' => {
                it.next();
            }
            '(' | ')' => {
                it.next();
                out.push((pos, if c == '(' { Tok::Open } else { Tok::Close }));
            }
            _ => {
                let mut end = src.len();
                while let Some(&(p, ch)) = it.peek() {
                    if ch.is_whitespace() || ch == '(' || ch == ')' {
                        end = p;
                        break;
                    }
                    it.next();
                }
                let atom = &src[pos..end];
                let tok = if is_number(atom) {
                    Tok::Num(atom)
                } else if is_keyword(atom) {
                    Tok::Keyword(&atom[1..])
                } else if is_symbol(atom) {
                    Tok::Symbol(atom)
                } else {
                    return Err(ParseError {
                        pos,
                        msg: format!("`{atom}` is not a number, keyword or symbol"),
                    });
                };
                out.push((pos, tok));
            }
        }
    }
    Ok(out)
}

struct Parser<'a> {
    toks: Vec<(usize, Tok<'a>)>,
    i: usize,
    len: usize,
}

impl<'a> Parser<'a> {
    fn err<T>(&self, pos: usize, msg: impl Into<String>) -> Result<T, ParseError> {
        Err(ParseError {
            pos,
            msg: msg.into(),
        })
    }

    fn next(&mut self, what: &str) -> Result<(usize, Tok<'a>), ParseError> {
        match self.toks.get(self.i) {
            Some(&t) => {
                self.i += 1;
                Ok(t)
            }
            None => self.err(
                self.len,
                format!("unexpected end of input, expected {what}"),
            ),
        }
    }

    fn peek(&self) -> Option<Tok<'a>> {
        self.toks.get(self.i).map(|t| t.1)
    }

    fn expr(&mut self) -> Result<Expr, ParseError> {
        match self.next("an expression")? {
            (pos, Tok::Num(s)) => match s.parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(Expr::Num(v)),
                _ => self.err(pos, format!("number `{s}` is out of range")),
            },
            (pos, Tok::Symbol(s)) => {
                if matches!(s, "true" | "false") || DType::from_name(s).is_some() {
                    return self.err(pos, format!("`{s}` cannot be an operand"));
                }
                Ok(Expr::Name(s.to_string()))
            }
            (_, Tok::Open) => self.call(),
            (pos, Tok::Close) => self.err(pos, "unexpected `)`, expected an expression"),
            (pos, Tok::Keyword(k)) => self.err(pos, format!("keyword `:{k}` before any op")),
        }
    }

    /// After `(`: `op {expr} {keyword value} )`.
    fn call(&mut self) -> Result<Expr, ParseError> {
        let op = match self.next("an op name")? {
            (_, Tok::Symbol(s)) => s.to_string(),
            (pos, t) => return self.err(pos, format!("expected an op name after `(`, got {t}")),
        };
        let mut args = Vec::new();
        let mut kwargs: Vec<(String, KwValue)> = Vec::new();
        loop {
            match self.peek() {
                Some(Tok::Close) => {
                    self.i += 1;
                    return Ok(Expr::Call(Call { op, args, kwargs }));
                }
                Some(Tok::Keyword(k)) => {
                    let pos = self.toks[self.i].0;
                    self.i += 1;
                    if kwargs.iter().any(|(n, _)| n == k) {
                        return self.err(pos, format!("keyword `:{k}` given twice in `{op}`"));
                    }
                    let v = self.kwvalue(k)?;
                    kwargs.push((k.to_string(), v));
                }
                Some(_) if !kwargs.is_empty() => {
                    let pos = self.toks[self.i].0;
                    return self.err(pos, format!("operand after keywords in `{op}`"));
                }
                Some(_) => args.push(self.expr()?),
                None => return self.err(self.len, format!("unclosed `(` of `{op}`, expected `)`")),
            }
        }
    }

    fn integer(&self, pos: usize, s: &str) -> Result<i64, ParseError> {
        if s.contains(['.', 'e', 'E']) {
            return self.err(pos, format!("`{s}` is not an integer"));
        }
        s.parse()
            .or_else(|_| self.err(pos, format!("integer `{s}` is out of range")))
    }

    fn kwvalue(&mut self, k: &str) -> Result<KwValue, ParseError> {
        match self.next(&format!("a value for `:{k}`"))? {
            (pos, Tok::Num(s)) => Ok(KwValue::Int(self.integer(pos, s)?)),
            (_, Tok::Symbol("true")) => Ok(KwValue::Bool(true)),
            (_, Tok::Symbol("false")) => Ok(KwValue::Bool(false)),
            (pos, Tok::Symbol(s)) => match DType::from_name(s) {
                Some(d) if d != DType::I64 => Ok(KwValue::DType(d)),
                _ => self.err(pos, format!("`{s}` is not a valid value for `:{k}`")),
            },
            (_, Tok::Open) => {
                let mut list = Vec::new();
                loop {
                    match self.next(&format!("an integer or `)` in the list of `:{k}`"))? {
                        (_, Tok::Close) => return Ok(KwValue::List(list)),
                        (pos, Tok::Num(s)) => list.push(self.integer(pos, s)?),
                        (pos, t) => return self.err(pos, format!("expected an integer, got {t}")),
                    }
                }
            }
            (pos, t) => self.err(pos, format!("expected a value for `:{k}`, got {t}")),
        }
    }
}

/// Parses one expression (the whole input).
pub fn parse(src: &str) -> Result<Expr, ParseError> {
    let mut p = Parser {
        toks: tokenize(src)?,
        i: 0,
        len: src.len(),
    };
    let e = p.expr()?;
    if let Some(&(pos, t)) = p.toks.get(p.i) {
        return p.err(pos, format!("trailing input {t} after the expression"));
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Expr {
        Expr::Name(s.into())
    }

    #[test]
    fn parses_calls_literals_and_keywords() {
        let e = parse("(mean (pow x 3) :axes (0 -1) :keepdim true)").unwrap();
        let Expr::Call(c) = e else { panic!() };
        assert_eq!(c.op, "mean");
        assert_eq!(
            c.args,
            vec![Expr::Call(Call {
                op: "pow".into(),
                args: vec![name("x"), Expr::Num(3.0)],
                kwargs: vec![],
            })]
        );
        assert_eq!(
            c.kwargs,
            vec![
                ("axes".into(), KwValue::List(vec![0, -1])),
                ("keepdim".into(), KwValue::Bool(true)),
            ]
        );
        let e = parse("(div (cast img :dtype f32) 2.5e-1)").unwrap();
        let Expr::Call(c) = e else { panic!() };
        assert_eq!(c.args[1], Expr::Num(0.25));
        let Expr::Call(inner) = &c.args[0] else {
            panic!()
        };
        assert_eq!(inner.kwargs[0].1, KwValue::DType(DType::F32));
        assert_eq!(parse("x").unwrap(), name("x"));
        let Expr::Call(c) = parse("(reshape x :shape ())").unwrap() else {
            panic!()
        };
        assert_eq!(c.kwargs[0].1, KwValue::List(vec![]));
    }

    #[test]
    fn reports_errors_with_positions() {
        let bad = |s: &str| parse(s).unwrap_err();
        assert_eq!(bad("(add x").pos, 6);
        assert!(bad("(add x").msg.contains("unclosed"));
        assert_eq!(bad("(add x) y").pos, 8);
        assert!(bad("(sum x :axes (0) :axes (1))").msg.contains("twice"));
        assert!(bad("(sum :keepdim true x)")
            .msg
            .contains("operand after keywords"));
        assert!(bad("(add x .5)").msg.contains("not a number"));
        assert!(bad("(add x +5)").msg.contains("not a number"));
        assert!(bad("(sum x :axes (0.5))").msg.contains("not an integer"));
        assert!(bad("(1 x)").msg.contains("op name"));
        assert!(bad(")").msg.contains("unexpected `)`"));
        assert!(bad("").msg.contains("end of input"));
        assert!(bad("(add true x)").msg.contains("cannot be an operand"));
    }
}
