//! Languages and language identification.
//!
//! Short posts defeat general detectors, and a general detector can cost more than
//! the rest of scoring together. So identification has two stages: a fast vote of
//! frequent function words ("de", "het", "niet", "the", "and", "der", "les", ...) that
//! settles almost every post of a few words in well under a microsecond, and for the
//! rest a character-trigram detector (the `whatlang` crate, restricted to the
//! languages we can stem) on the whole text. A post that neither stage can place is
//! [`Lang::UNDETERMINED`]; the caller decides which model scores it.

use rustc_hash::FxHashMap;

use crate::tokenize::{TokenKind, Tokens};

/// An ISO 639-1 language code, or [`Lang::UNDETERMINED`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Lang([u8; 2]);

impl Lang {
    /// Dutch.
    pub const NL: Lang = Lang(*b"nl");
    /// English.
    pub const EN: Lang = Lang(*b"en");
    /// German.
    pub const DE: Lang = Lang(*b"de");
    /// French.
    pub const FR: Lang = Lang(*b"fr");
    /// No language could be determined; printed as `und` (ISO 639-2).
    pub const UNDETERMINED: Lang = Lang(*b"??");

    /// Parses an ISO 639-1 code such as `nl` or `EN`; also accepts `und`.
    /// Returns `None` for anything that is not two ASCII letters.
    pub fn from_code(code: &str) -> Option<Lang> {
        match code.as_bytes() {
            [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
                Some(Lang([a.to_ascii_lowercase(), b.to_ascii_lowercase()]))
            }
            _ if code.eq_ignore_ascii_case("und") => Some(Lang::UNDETERMINED),
            _ => None,
        }
    }

    /// The code: two lower-case letters, or `und`.
    pub fn as_str(&self) -> &str {
        if *self == Lang::UNDETERMINED {
            "und"
        } else {
            // Both bytes are ASCII letters by construction.
            std::str::from_utf8(&self.0).unwrap_or("und")
        }
    }

    /// The Snowball stemmer for this language, if there is one.
    pub fn stemmer(&self) -> Option<rust_stemmers::Algorithm> {
        use rust_stemmers::Algorithm::*;
        Some(match &self.0 {
            b"ar" => Arabic,
            b"da" => Danish,
            b"nl" => Dutch,
            b"en" => English,
            b"fi" => Finnish,
            b"fr" => French,
            b"de" => German,
            b"el" => Greek,
            b"hu" => Hungarian,
            b"it" => Italian,
            b"no" | b"nb" | b"nn" => Norwegian,
            b"pt" => Portuguese,
            b"ro" => Romanian,
            b"ru" => Russian,
            b"es" => Spanish,
            b"sv" => Swedish,
            b"ta" => Tamil,
            b"tr" => Turkish,
            _ => return None,
        })
    }
}

impl std::fmt::Display for Lang {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a language was identified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// The post's own `lang` field.
    Hint,
    /// The function-word vote.
    FunctionWords,
    /// The character-trigram detector.
    Trigrams,
    /// Nothing decided.
    Undetermined,
}

/// Frequent function words per language. Words shared between languages ("de",
/// "in", "die") count for each of them with a share of one vote.
const FUNCTION_WORDS: &[(Lang, &str)] = &[
    (Lang::NL, "de het een en van ik je jij dat die niet is op te in met zijn voor maar ook als er wat nog bij aan om dan wel naar hij ze we wij mijn kan geen meer heb heeft wordt werd deze dit zo al of uit door over onze jullie hun zij echt gewoon gaan gaat komt moet moeten nu hier daar waarom hoe wie alleen zonder tegen allemaal iedereen niks niets weer heel erg veel ben bent hebben kunnen zou zijn mensen hoor toch even nou"),
    (Lang::EN, "a the and is are was were to of in that it you for on with this be have has not but they we at by from or an what all your my me so just can will would about there their been if out up do don't no get like one know who when how why our more now only them here going i'm it's can't people really"),
    (Lang::DE, "der die das und ist nicht ich du er sie wir ihr es ein eine einen dem den des mit von zu auf für auch sich noch wie aber nur oder wenn schon sind war werden wird hat haben kein keine mehr heute jetzt hier alle doch mal bei nach aus um über gegen wieder sehr"),
    (Lang::FR, "le la les un une des et est sont pas ne je tu il elle nous vous ils elles ce cette qui que dans sur pour avec sans mais ou où donc au aux du de c'est j'ai très tout tous aussi plus moins ici ça déjà encore soir demain"),
    (Lang(*b"es"), "el la los las un una y es son no que en por para con pero muy más como está esto esta todo todos también ya hoy aquí yo tú él ella del al se lo le de"),
    (Lang(*b"it"), "il lo la gli le un una e è sono non che di in per con ma molto più come questo questa tutto tutti anche già oggi qui io tu lui lei noi del della ci si"),
    (Lang(*b"pt"), "o a os as um uma e é são não que em por para com mas muito mais como este esta isso tudo todos também já hoje aqui eu você ele ela nós do da dos das no na de"),
];

/// The languages the trigram stage may answer; all have a stemmer.
const TRIGRAM_LANGUAGES: &[(whatlang::Lang, Lang)] = &[
    (whatlang::Lang::Nld, Lang::NL),
    (whatlang::Lang::Eng, Lang::EN),
    (whatlang::Lang::Deu, Lang::DE),
    (whatlang::Lang::Fra, Lang::FR),
    (whatlang::Lang::Spa, Lang(*b"es")),
    (whatlang::Lang::Ita, Lang(*b"it")),
    (whatlang::Lang::Por, Lang(*b"pt")),
    (whatlang::Lang::Swe, Lang(*b"sv")),
    (whatlang::Lang::Dan, Lang(*b"da")),
    (whatlang::Lang::Nob, Lang(*b"no")),
    (whatlang::Lang::Fin, Lang(*b"fi")),
    (whatlang::Lang::Hun, Lang(*b"hu")),
    (whatlang::Lang::Ron, Lang(*b"ro")),
    (whatlang::Lang::Tur, Lang(*b"tr")),
    (whatlang::Lang::Rus, Lang(*b"ru")),
    (whatlang::Lang::Ell, Lang(*b"el")),
    (whatlang::Lang::Ara, Lang(*b"ar")),
];

/// The function-word vote must reach this many votes (one unshared word: short
/// posts often have just one)...
const MIN_VOTES: f32 = 1.0;
/// ...and beat the runner-up by this factor, or the trigram stage decides.
const MIN_VOTE_RATIO: f32 = 1.5;

/// Identifies the language of a post. Build one and keep it: construction builds the
/// word table, identification then allocates nothing.
pub struct LanguageIdentifier {
    votes: FxHashMap<&'static str, Vec<(Lang, f32)>>,
    languages: Vec<Lang>,
    trigrams: whatlang::Detector,
}

impl std::fmt::Debug for LanguageIdentifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LanguageIdentifier")
            .field("words", &self.votes.len())
            .finish()
    }
}

impl Default for LanguageIdentifier {
    fn default() -> Self {
        Self::new()
    }
}

impl LanguageIdentifier {
    /// Builds the identifier.
    pub fn new() -> Self {
        let mut languages_of: FxHashMap<&'static str, Vec<Lang>> = FxHashMap::default();
        for (lang, words) in FUNCTION_WORDS {
            for word in words.split_whitespace() {
                let langs = languages_of.entry(word).or_default();
                if !langs.contains(lang) {
                    langs.push(*lang);
                }
            }
        }
        let votes = languages_of
            .into_iter()
            .map(|(word, langs)| {
                let share = 1.0 / langs.len() as f32;
                (word, langs.into_iter().map(|l| (l, share)).collect())
            })
            .collect();
        let languages = FUNCTION_WORDS.iter().map(|(lang, _)| *lang).collect();
        let allow = TRIGRAM_LANGUAGES.iter().map(|(w, _)| *w).collect();
        Self {
            votes,
            languages,
            trigrams: whatlang::Detector::with_allowlist(allow),
        }
    }

    /// Identifies the language of a tokenized post; `text` is its raw text, for the
    /// trigram stage.
    pub fn identify(&self, tokens: &Tokens, text: &str) -> (Lang, Method) {
        let mut tally = [0f32; FUNCTION_WORDS.len()];
        for (token, form) in tokens.iter() {
            if token.kind != TokenKind::Word || token.in_hashtag {
                continue;
            }
            if let Some(votes) = self.votes.get(form) {
                for (lang, share) in votes {
                    if let Some(slot) = self.languages.iter().position(|l| l == lang) {
                        tally[slot] += share;
                    }
                }
            }
        }
        let (mut best, mut second) = ((0usize, 0f32), 0f32);
        for (slot, &votes) in tally.iter().enumerate() {
            if votes > best.1 {
                second = best.1;
                best = (slot, votes);
            } else if votes > second {
                second = votes;
            }
        }
        if best.1 >= MIN_VOTES && best.1 >= MIN_VOTE_RATIO * second {
            return (self.languages[best.0], Method::FunctionWords);
        }
        match self.trigrams.detect(text) {
            Some(info) if info.is_reliable() => TRIGRAM_LANGUAGES
                .iter()
                .find(|(w, _)| *w == info.lang())
                .map_or((Lang::UNDETERMINED, Method::Undetermined), |(_, lang)| {
                    (*lang, Method::Trigrams)
                }),
            _ => (Lang::UNDETERMINED, Method::Undetermined),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identify(text: &str) -> Lang {
        let identifier = LanguageIdentifier::new();
        let mut tokens = Tokens::new();
        tokens.tokenize(text);
        identifier.identify(&tokens, text).0
    }

    #[test]
    fn identifies_short_dutch_posts() {
        for text in [
            "iedereen om 9 uur naar het plein",
            "wat een mooie dag vandaag",
            "ik ben er klaar mee",
            "de politie is er al",
            "dit is echt niet normaal meer",
        ] {
            assert_eq!(identify(text), Lang::NL, "{text}");
        }
    }

    #[test]
    fn identifies_short_english_posts() {
        for text in [
            "everyone meet at the square tonight",
            "this is not ok",
            "what a great day",
            "they are burning cars on my street",
        ] {
            assert_eq!(identify(text), Lang::EN, "{text}");
        }
    }

    #[test]
    fn identifies_german_and_french() {
        assert_eq!(identify("das ist nicht gut, wir sind hier"), Lang::DE);
        assert_eq!(
            identify("ce n'est pas normal, je suis dans la rue"),
            Lang::FR
        );
        assert_eq!(
            identify("Die Polizei hat heute die Straße gesperrt"),
            Lang::DE
        );
    }

    #[test]
    fn falls_back_to_trigrams_for_posts_without_function_words() {
        assert_eq!(
            identify("Ongelooflijke verkeersopstoppingen richting Groningen vanochtend"),
            Lang::NL
        );
    }

    #[test]
    fn unknown_language_is_undetermined_not_a_guess() {
        assert_eq!(identify("🔥🔥🔥"), Lang::UNDETERMINED);
        assert_eq!(identify("!!!"), Lang::UNDETERMINED);
        assert_eq!(identify(""), Lang::UNDETERMINED);
    }

    #[test]
    fn codes_round_trip() {
        assert_eq!(Lang::from_code("NL"), Some(Lang::NL));
        assert_eq!(Lang::from_code("und"), Some(Lang::UNDETERMINED));
        assert_eq!(Lang::UNDETERMINED.as_str(), "und");
        assert_eq!(Lang::from_code("dutch"), None);
        assert_eq!(Lang::from_code("n1"), None);
    }

    #[test]
    fn every_function_word_language_has_a_stemmer() {
        assert!(FUNCTION_WORDS.iter().all(|(l, _)| l.stemmer().is_some()));
        assert!(TRIGRAM_LANGUAGES.iter().all(|(_, l)| l.stemmer().is_some()));
    }
}
