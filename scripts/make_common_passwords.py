"""Write relance/data/common-passwords.txt: the passwords a new password may not be (services/accounts.py).

No download: the list is made from the most common passwords of the published lists (SplashData / NordPass yearly
tops, the NCSC "100k most used" head, RockYou's head), French favourites, office words, keyboard walks and digit
runs, and what people do to them to pass a length rule (a number, a year, "!" added, a word said twice). The
words themselves are listed (a listed word followed by digits and signs only is refused); derived entries are kept
only from 12 characters (the shortest password Relance accepts: shorter ones are refused by length already).
Entries are lower case (the check ignores case, spaces and the usual letter-for-digit swaps).

    .venv/bin/python scripts/make_common_passwords.py      # rewrites the file; the output is sorted and stable
"""

from __future__ import annotations

from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "relance" / "data" / "common-passwords.txt"
MIN_DERIVED = 12


def words(text: str) -> list[str]:
    return text.split()


# the head of the published lists, as they are (short ones included: the list is also a record of what is common)
TOP = words("""
123456 password 123456789 12345678 12345 qwerty 1234567 111111 1234567890 123123 abc123 1234 password1 iloveyou
1q2w3e4r 000000 qwerty123 zaq12wsx dragon sunshine princess letmein 654321 monkey 27653 1qaz2wsx 123321 qwertyuiop
superman asdfghjkl trustno1 welcome admin football baseball master shadow michael jennifer hunter batman starwars
whatever freedom charlie donald ashley bailey passw0rd qazwsx mustang access flower hello loveme 696969 lovely
7777777 888888 121212 666666 jordan23 harley ranger buster soccer hockey killer george andrew thomas robert tigger
daniel jessica pepper summer ginger joshua cheese amanda matthew nicole chelsea biteme yankees dallas austin thunder
taylor matrix minecraft pokemon liverpool arsenal chocolate computer internet samsung google secret love angel
babygirl lovelove iloveu family friends forever butterfly purple orange banana apple blink182 qwerty1 qwerty12
123qwe 1qazxsw2 q1w2e3r4 q1w2e3r4t5 q1w2e3r4t5y6 a1b2c3 a1b2c3d4 abcdef abcdefg abcd1234 test test123 test1234
guest root toor administrator changeme default login pass pass123 passpass welcome1 welcome123 letmein1 hello123
iloveyou1 princess1 sunshine1 monkey1 dragon1 master1 football1 baseball1 superman1 batman1 shadow1 michael1
123456a 123456q a123456 aa123456 qwe123 qweasd qweasdzxc 1qaz2wsx3edc zxcvbnm zxcvbn asdfgh asdf1234 11111111
00000000 12341234 112233 123654 147258369 159753 987654321 9876543210 11223344 5555555 1111111111 0123456789
password12 password123 password1234 admin123 admin1234 root123 user user123 p@ssw0rd p@ssword passwort
hallo123 ficken schatz qwertz azerty azertyuiop azerty123 azerty1 soleil doudou loulou chouchou marseille nicolas
julien camille maxime alexandre anthony jetaime moimeme bonjour coucou motdepasse marine celine caroline chocolat
pierre vincent olivier isabelle nathalie stephanie sandrine christophe sebastien laurent philippe francois
frederic patrick michel cheval doudou1 loulou1 soleil1 jetaime1 bonjour1 azertyui 000000000 lolita olivia
""")

# words people build passwords from (English, French, office); combined with SUFFIXES below
WORDS = words("""
password passwd pass word secret letmein welcome hello iloveyou loveyou trustno iloveu lovely love angel
dragon monkey master shadow sunshine princess superman batman football baseball soccer hockey tennis golf
hunter ranger killer freedom whatever starwars pokemon minecraft computer internet google samsung apple banana
orange purple flower butterfly chocolate cheese summer winter spring autumn january february march april june
july august september october november december monday friday sunday london paris berlin madrid rome
qwerty qwertyuiop azerty azertyuiop asdfgh asdfghjkl zxcvbnm qazwsx abcdef abcdefgh
admin administrator administrateur root user guest test demo default changeme login access office company
finance accounting accounts invoice invoices billing payment payments payroll manager management sales
motdepasse monmotdepasse mdp secret bienvenue bonjour bonsoir coucou salut merci jetaime moimeme tresor amour
mamour bisous bisou doudou loulou chouchou soleil etoile lune ciel fleur papillon bonheur liberte france
francais marseille toulouse bordeaux lille nantes strasbourg montpellier rennes lyon nice psg olympique
allezlom football rugby vacances printemps automne hiver janvier fevrier mars avril juin juillet aout
septembre octobre novembre decembre lundi mardi mercredi jeudi vendredi samedi dimanche famille maison jardin
voiture chat chien lapin cheval tigre lion poisson princesse chocolat fromage nicolas julien thomas camille
maxime alexandre anthony marine celine caroline pierre vincent olivier isabelle nathalie stephanie sandrine
christophe sebastien laurent philippe francois frederic patrick michel antoine guillaume emilie aurelie
utilisateur compta comptable comptabilite facture factures facturation relance relances recouvrement impaye
impayes societe entreprise bureau travail boulot stagiaire accueil direction gestion client clients
fournisseur tresorerie paie banque argent euros secretariat commercial juridique contentieux
""")

YEARS = [str(year) for year in range(1970, 2031)]
SUFFIXES = ["", "1", "12", "123", "1234", "12345", "123456", "1234567", "!", "1!", "12!", "123!", "1234!", "01",
            "007", "69", "99", "00", "11", "13", "22", "2a", "@123", "#1", "*", "?"]
# words that get a year (or a two-digit year): seasons and months first, then what an office would pick
YEAR_WORDS = words("""
password passw0rd welcome bienvenue motdepasse secret admin azerty qwerty soleil bonjour summer winter spring
autumn printemps hiver automne ete janvier fevrier mars avril mai juin juillet aout septembre octobre novembre
decembre january february march april may june july august september october november december relance
facture compta comptabilite paris france marseille football changeme company societe entreprise
""")
WALKS = words("""
qwertyuiop qwertyuiopasdf asdfghjkl asdfghjklzxc zxcvbnm zxcvbnmasdf azertyuiop azertyuiopqsdf qsdfghjklm
wxcvbn 1qaz2wsx3edc 1qaz2wsx3edc4rfv zaq12wsxcde3 qazwsxedcrfv qazwsxedc 1q2w3e4r5t6y 1q2w3e4r5t6y7u8i
q1w2e3r4t5y6 q1w2e3r4t5y6u7i8 a1z2e3r4t5y6 a1b2c3d4e5f6 abcdefghijkl abcdefghijklm abcdefghijklmnop
abc123abc123 qwerty123456 azerty123456 qwertyqwerty azertyazerty asdfasdfasdf zxczxczxczxc 1234qwerasdf
1234qwerasdfzxcv qwer1234asdf !qaz2wsx#edc !qaz@wsx#edc 1qaz!qaz2wsx@wsx poiuytreza mlkjhgfdsq
0987654321 09876543210 987654321098 0123456789012
""")
PHRASES = """
correct horse battery staple|correcthorsebatterystaple|the quick brown fox|thequickbrownfox|
thequickbrownfoxjumpsoverthelazydog|mot de passe|monmotdepasse|ceci est un mot de passe|
ceciestunmotdepasse|je t'aime|jetaimemonamour|je suis la|jesuisla|open sesame|opensesame|let me in please|
letmeinplease|i love you|iloveyouforever|iloveyousomuch|iloveyoubaby|jetaimeplusque tout|jetaimeplusquetout|
ilovemyfamily|ilovemymom|ilovemydad|jaimemafamille|mafamille|one two three four|onetwothreefour|
un deux trois quatre|undeuxtroisquatre|nothing to see here|changemenow|changemeplease|pleasechangeme|
password password|passwordpassword|motdepassemotdepasse|secretsecret|adminadminadmin|azertyazertyazerty|
welcometorelance|bienvenuesurrelance|mysecurepassword|mystrongpassword|strongpassword|securepassword|
supersecretpassword|verysecurepassword|monmotdepassesecret|motdepassesecurise|motdepassefort
""".replace("\n", "").split("|")


def digit_runs() -> set[str]:
    runs = {"1234567890" * 2, "0123456789" * 2, "9876543210" * 2}
    for digit in "0123456789":
        runs |= {digit * n for n in range(6, 17)}
    for chunk in ("12", "123", "1234", "12345", "123456", "121", "112", "1122", "321", "4321", "54321", "69", "007",
                  "13", "2580", "147", "258", "369", "159", "357", "147258", "159357", "142536", "010203"):
        for times in range(2, 9):
            runs.add(chunk * times)
    for length in range(6, 17):
        runs.add("".join(str(n % 10) for n in range(1, length + 1)))
        runs.add("".join(str(n % 10) for n in range(length)))
        runs.add("".join(str((9 - n) % 10) for n in range(length)))
    return {run for run in runs if len(run) <= 20}


def letter_runs() -> set[str]:
    runs = set()
    for letter in "abcdefghijklmnopqrstuvwxyz":
        runs |= {letter * n for n in range(6, 17)}
    for chunk in ("ab", "abc", "abcd", "xyz", "qwe", "asd", "zxc", "aze", "qsd", "wxc", "azer", "qwer", "lol", "haha",
                  "hehe", "bla", "toto", "titi", "tata", "coucou", "love", "pass"):
        for times in range(2, 7):
            runs.add(chunk * times)
    return {run for run in runs if len(run) <= 20}


def build() -> list[str]:
    found = {entry.lower() for entry in TOP}
    for word in WORDS:
        for suffix in SUFFIXES:
            found.add(word + suffix)
        found.add(word + word)
        found.add("my" + word)
        found.add("mon" + word)
    for word in YEAR_WORDS:
        for year in YEARS:
            found |= {word + year, word + year + "!"}
    found |= set(WALKS) | {phrase.strip() for phrase in PHRASES if phrase.strip()} | digit_runs() | letter_runs()
    # the words themselves too: a listed word followed by digits and signs only is refused (accounts.is_common)
    kept = {entry.lower() for entry in TOP} | {word for word in WORDS + YEAR_WORDS if len(word) >= 4}
    return sorted(entry for entry in found | kept if entry in kept or len(entry) >= MIN_DERIVED)


def main() -> None:
    entries = build()
    header = [
        "# Common passwords refused for a new password (services/accounts.py). Made by",
        "# scripts/make_common_passwords.py from the heads of the published lists and what people add to them;",
        "# one per line, lower case; lines starting with # are comments.",
    ]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(header + entries) + "\n", encoding="utf-8")
    print(f"common-passwords entries={len(entries)} file={OUT}")


if __name__ == "__main__":
    main()
