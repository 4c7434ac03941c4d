"""Fixed bot texts that are not part of a flow (re-prompts, warnings, commands), in Dutch and English."""
from __future__ import annotations

from flows.model import Texts

NOT_UNDERSTOOD = Texts(
    nl="Sorry, dat begreep ik niet. Kies een van de knoppen hieronder.",
    en="Sorry, I didn't get that. Please tap one of the buttons below.",
)
TYPE_ANSWER = Texts(
    nl="Sorry, dat begreep ik niet. Typ je antwoord in een bericht.",
    en="Sorry, I didn't get that. Please type your answer in a message.",
)
EMPTY = Texts(
    nl="Ik zie geen tekst in je bericht. Wil je het in woorden typen?",
    en="I can't see any text in your message. Could you type it in words?",
)
TOO_SHORT = Texts(
    nl="Kun je iets meer vertellen? Een paar woorden is genoeg.",
    en="Could you tell me a little more? A few words are enough.",
)
TOO_LONG = Texts(
    nl="Dat is een lang bericht, dank je. Ik kan maximaal {limit} tekens per antwoord bewaren. "
    "Wil je het korter opschrijven? Je adviseur kan later altijd meer vragen.",
    en="That's a long message, thank you. I can keep at most {limit} characters per answer. "
    "Could you write it more briefly? Your advisor can always ask for more later.",
)
BAD_EMAIL = Texts(
    nl="Dat lijkt geen e-mailadres. Typ het zo: naam@voorbeeld.nl",
    en="That doesn't look like an email address. Please type it like this: name@example.com",
)
BAD_PHONE = Texts(
    nl="Dat lijkt geen telefoonnummer. Typ alleen de cijfers, bijvoorbeeld 0612345678.",
    en="That doesn't look like a phone number. Please type just the digits, for example +31612345678.",
)
NO_PICTURES = Texts(
    nl="Stuur ons alsjeblieft geen foto's of video's. We hebben je bestand niet geopend en niet bewaard. "
    "Gaat het om een naaktfoto? Stuur die nooit door, ook niet naar ons: doorsturen is zelf ook verspreiden. "
    "Beschrijf liever in woorden wat erop staat.",
    en="Please don't send us photos or videos. We haven't opened or kept your file. "
    "Is it a nude image? Never forward it, not even to us: forwarding it is sharing it. "
    "Please describe in words what it shows instead.",
)
TEXT_ONLY = Texts(
    nl="Dank je! Ik kan alleen tekst lezen.",
    en="Thanks! I can only read text.",
)
NO_LOCATION = Texts(
    nl="Je locatie heb ik niet nodig, die heb ik niet bewaard.",
    en="I don't need your location, so I haven't kept it.",
)
STILL_STUCK = Texts(
    nl="Lukt het niet? Typ 'adviseur', dan neemt een mens contact met je op.",
    en="Having trouble? Type 'advisor' and a person will get back to you.",
)
HELP = Texts(
    nl="Ik stel je een paar korte vragen, zodat een adviseur je snel kan helpen. Je kunt altijd typen:\n"
    "• 'opnieuw' om opnieuw te beginnen\n• 'adviseur' om met een mens te praten\n"
    "• 'english' for English\nIs iemand nu in gevaar? Bel dan meteen 112.",
    en="I'll ask you a few short questions so an advisor can help you quickly. You can always type:\n"
    "• 'restart' to start again\n• 'advisor' to talk to a person\n"
    "• 'nederlands' voor Nederlands\nIs someone in danger right now? Call 112 straight away.",
)
ADVISOR_REQUESTED = Texts(
    nl="Ik heb een adviseur gevraagd om contact met je op te nemen. Je krijgt binnen 24 uur antwoord. "
    "Is iemand nu in gevaar? Bel dan meteen 112.",
    en="I've asked an advisor to get back to you. You'll hear from us within 24 hours. "
    "Is someone in danger right now? Call 112 straight away.",
)
ERASURE_ASK = Texts(
    nl="Wil je dat we je gegevens wissen? Dan verwijderen we dit gesprek en alles wat je ons hebt verteld. "
    "We houden alleen anonieme cijfers over, zoals het soort melding en de datum. Daarna kunnen we je niet meer "
    "helpen met wat je ons vertelde. Weet je het zeker?",
    en="Do you want us to erase your data? Then we delete this chat and everything you told us. We only keep "
    "anonymous figures, such as the kind of report and the date. After that we can no longer help you with what "
    "you told us. Are you sure?",
)
ERASE_YES = Texts(nl="Ja, wis alles", en="Yes, erase it all")
ERASE_NO = Texts(nl="Nee, toch niet", en="No, keep it")
ERASURE_NOW = Texts(
    nl="Oké, we wissen je gegevens nu. Dit is ons laatste bericht in dit gesprek. "
    "Je kunt ons altijd opnieuw een bericht sturen. Is iemand in gevaar? Bel dan meteen 112.",
    en="Okay, we are erasing your data now. This is our last message in this chat. "
    "You can always message us again. Is someone in danger? Call 112 straight away.",
)
ERASURE_AFTER_GRACE = Texts(
    nl="Oké. Je melding staat nog open, dus een adviseur kijkt er eerst nog even naar, bijvoorbeeld of iemand "
    "in gevaar is. Binnen {hours} uur wissen we daarna alles. Is iemand nu in gevaar? Bel dan meteen 112.",
    en="Okay. Your report is still open, so an advisor will look at it first, for example whether someone is "
    "in danger. Within {hours} hours we then erase everything. Is someone in danger right now? Call 112 "
    "straight away.",
)
EMERGENCY = Texts(
    nl="Is iemand nu in gevaar? Bel meteen 112. Denk je aan zelfdoding? Bel 113 of gratis 0800-0113. "
    "Ik heb een adviseur gevraagd om zo snel mogelijk contact met je op te nemen.",
    en="Is someone in danger right now? Call 112 straight away. Thinking about suicide? Call 113 or 0800-0113 "
    "(free). I've asked an advisor to get back to you as soon as possible.",
)
REPORT_RUNNING = Texts(
    nl="Je bent al bezig met een melding. Wil je verder gaan waar je was, of opnieuw beginnen?",
    en="You've already started a report. Do you want to go on where you were, or start again?",
)
GO_ON = Texts(nl="Verder gaan", en="Go on")
START_AGAIN = Texts(nl="Opnieuw beginnen", en="Start again")
MY_DATA = Texts(
    nl="We bewaren je antwoorden en deze chat, zodat een adviseur je kan helpen. Foto's downloaden we nooit. "
    "We wissen alles {retention_days} dagen nadat je melding is afgesloten.\nMeer lezen: {privacy_url}\n"
    "Wil je dat we nu alles wissen?",
    en="We keep your answers and this chat, so an advisor can help you. We never download photos. We erase "
    "everything {retention_days} days after your report is closed.\nRead more: {privacy_url}\n"
    "Do you want us to erase everything now?",
)
ERASE_BUTTON = Texts(nl="Wis mijn gegevens", en="Erase my data")
ADVISOR_HAS_IT = Texts(
    nl="Een adviseur praat nu met je en leest je berichten. Is iemand in gevaar? Bel dan meteen 112.",
    en="An advisor is talking with you now and reads your messages. Is someone in danger? Call 112 straight away.",
)
SLOW_DOWN = Texts(
    nl="Je stuurt veel berichten vlak na elkaar. Ik bewaar ze allemaal. Wacht even met typen, dan antwoord ik "
    "weer. Is iemand in gevaar? Bel dan meteen 112.",
    en="You're sending a lot of messages in a row. I keep them all. Please wait a moment before typing again, "
    "then I'll answer. Is someone in danger? Call 112 straight away.",
)
ERASURE_CANCELLED = Texts(nl="Goed, we wissen niets.", en="All right, we won't erase anything.")
ADVISOR_CONTINUE = Texts(
    nl="Wil je intussen de vragen verder invullen? Dat helpt de adviseur.",
    en="Would you like to go on with the questions meanwhile? That helps the advisor.",
)
RESTARTING = Texts(nl="Oké, we beginnen opnieuw.", en="Okay, let's start again.")
LANGUAGE_SET = Texts(nl="Prima, we gaan verder in het Nederlands.", en="Sure, let's continue in English.")
AFTER_COMPLETION = Texts(
    nl="Dank je, je bericht is bij ons binnen en hoort bij je melding {case_reference}. "
    "Een adviseur leest het. Wil je iets nieuws melden? Typ 'opnieuw'. Bij gevaar: bel 112.",
    en="Thank you, we've received your message and added it to your case {case_reference}. "
    "An advisor will read it. Want to report something new? Type 'restart'. In danger? Call 112.",
)
AFTER_DECLINE = Texts(
    nl="Welkom terug. Wil je toch iets melden? Typ 'opnieuw'. Bij gevaar: bel 112.",
    en="Welcome back. Would you like to report something after all? Type 'restart'. In danger? Call 112.",
)
LINKS_INTRO = Texts(nl="Handige links:", en="Useful links:")
