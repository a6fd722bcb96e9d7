"""A hand-labelled evaluation set of rep turns for the dialogue-act classifier (coaching.ml.acts).

(act, the customer turn right before it or None, rep text). Written separately from the seed set in
coaching/ml/act_seeds.py, with other wording and other situations, and labelled by the act definitions
in that module's docstring. About 15 per act; a few in each act are deliberately hard (a budget question
that is discovery, a price without a currency sign, an objection answered with a question, a turn that
mentions a meeting without proposing one).
"""

from __future__ import annotations

LABELLED: tuple[tuple[str, str | None, str], ...] = (
    # --- discovery_question ------------------------------------------------------------------------
    ("discovery_question", None, "Which CRM are your account managers logging activity in these days?"),
    (
        "discovery_question",
        "We've been thinking about upgrading our phones.",
        "What's prompting that? Has the old system been dropping calls?",
    ),
    ("discovery_question", None, "When a claim gets denied, who on your staff follows up with the payer?"),
    (
        "discovery_question",
        "We're looking for a three-bedroom.",
        "Got it. Is being near a particular school important, or are you flexible on the area?",
    ),
    ("discovery_question", None, "how many trucks do u have on the road on a typical day"),
    ("discovery_question", None, "And what does it cost you when a shift goes unfilled at the last minute?"),
    (
        "discovery_question",
        None,
        "Walk me through how a customer gets a quote from you today, start to finish.",
    ),
    (
        "discovery_question",
        "It's a bit of a mess honestly.",
        "A mess how? Duplicated data, or people just not using it?",
    ),
    ("discovery_question", None, "Do you have any coverage for cyber incidents right now, or is that a gap?"),
    ("discovery_question", None, "What budget range were you thinking about for the renovation?"),
    ("discovery_question", None, "Who signs off on purchases over ten thousand at your company?"),
    ("discovery_question", None, "What's the interest rate on your current equipment loan?"),
    ("discovery_question", None, "If nothing changes over the next year, where does that leave the team?"),
    ("discovery_question", None, "Are you mostly looking for something for the family or for work?"),
    (
        "discovery_question",
        "We use spreadsheets for scheduling.",
        "And how's that holding up now that you've added the second location?",
    ),
    # --- value_statement ---------------------------------------------------------------------------
    (
        "value_statement",
        None,
        "The dashboard refreshes every fifteen minutes, so you're never looking at yesterday's numbers.",
    ),
    (
        "value_statement",
        None,
        "This plan covers accidents abroad too, so you don't need a separate travel policy.",
    ),
    (
        "value_statement",
        "What's the commute like?",
        "You're a ten minute walk from the train, and it's a straight shot downtown.",
    ),
    (
        "value_statement",
        None,
        "The adaptive cruise control really takes the stress out of stop-and-go traffic.",
    ),
    (
        "value_statement",
        None,
        "You approve payments in the app with your fingerprint, no token or card reader.",
    ),
    (
        "value_statement",
        None,
        "Our network reroutes automatically if a line goes down, so your stores stay online.",
    ),
    (
        "value_statement",
        None,
        "Doctors dictate and the note lands in the chart already formatted, which kills most evening "
        "charting.",
    ),
    ("value_statement", None, "It catches duplicate vendor invoices before anyone pays them twice."),
    (
        "value_statement",
        "Does it work offline?",
        "Yes, the app keeps working with no signal and syncs once the driver's back in coverage.",
    ),
    ("value_statement", None, "Basically you set the rules once and approvals route themselves."),
    ("value_statement", None, "The heat pump heats and cools, so you can get rid of the old window units."),
    (
        "value_statement",
        None,
        "Students get instant feedback on practice quizzes, so teachers can spot who's falling behind.",
    ),
    (
        "value_statement",
        None,
        "It'll spare your planners redoing the schedule every time someone calls in sick.",
    ),
    (
        "value_statement",
        None,
        "All your policies sit in one portal with a single renewal date, so nothing slips through.",
    ),
    (
        "value_statement",
        None,
        "What you're really buying is peace of mind: our team watches your network overnight so you don't.",
    ),
    # --- objection_handling ------------------------------------------------------------------------
    (
        "objection_handling",
        "Honestly it's too expensive for a team our size.",
        "I hear you. A lot of small teams start on the basic tier and only add seats once it pays off.",
    ),
    (
        "objection_handling",
        "We're already using Salesforce.",
        "That's fine, we actually sit on top of Salesforce rather than replacing it.",
    ),
    (
        "objection_handling",
        "I need to talk to my husband first.",
        "Of course, that makes total sense. Would a summary you can both look at tonight help?",
    ),
    (
        "objection_handling",
        "Now's just not a good time, we're in the middle of a merger.",
        "Completely understandable. When things settle, is there a month that'd be more realistic?",
    ),
    (
        "objection_handling",
        "I'm worried the kids will wreck the leather.",
        "Fair worry. The seats have a stain-resistant coating and the protection package covers tears for "
        "five years.",
    ),
    (
        "objection_handling",
        "Your rate is higher than my current bank's, so I'm not sure.",
        "I understand. Theirs is variable though, and ours is fixed, so the comparison changes if rates "
        "climb.",
    ),
    (
        "objection_handling",
        "I'm not convinced our staff will actually use it.",
        "That's a really fair point. We train on site and most clinics see daily use within two weeks.",
    ),
    (
        "objection_handling",
        "We tried something like this before and it flopped, so I'm skeptical.",
        "Sorry to hear that. Can I ask what went wrong? I'd rather know now than repeat it.",
    ),
    (
        "objection_handling",
        "The problem is the house is priced way above the comps.",
        "You're right that it's on the high side. We could come in lower and justify it with the inspection.",
    ),
    (
        "objection_handling",
        "I don't think we need that much coverage.",
        "That's fair, and you don't have to take all of it. Let's look at what would actually hurt the "
        "business if it happened.",
    ),
    (
        "objection_handling",
        "We can't commit to a new provider until our contract ends in March.",
        "No problem at all, we can time the move for March and even help with the early exit fee.",
    ),
    (
        "objection_handling",
        "I don't trust cloud software with patient data.",
        "Totally get that. The data stays in a HIPAA-compliant US data center and you can audit access "
        "anytime.",
    ),
    (
        "objection_handling",
        None,
        "I know you mentioned budget is tight, so let's talk about which features you could live without.",
    ),
    (
        "objection_handling",
        "Seems like a lot of work to set up, and we're too busy.",
        "It's less than it looks. We do the migration for you, your team just checks it at the end.",
    ),
    (
        "objection_handling",
        "I'm not sure this is a priority for us right now.",
        "Understood. Out of curiosity, what's sitting above it on the list?",
    ),
    # --- social_proof ------------------------------------------------------------------------------
    (
        "social_proof",
        None,
        "Most of the property managers we work with run between fifty and three hundred units, like you.",
    ),
    (
        "social_proof",
        None,
        "A distribution center in Georgia cut picking errors by forty percent after rollout.",
    ),
    ("social_proof", None, "We've put panels on over twelve hundred roofs in this county alone."),
    (
        "social_proof",
        None,
        "The Patels just closed on a similar house a few blocks over, and they'd be happy to talk to you.",
    ),
    ("social_proof", None, "Two of the biggest hospital systems in the state renewed with us last month."),
    (
        "social_proof",
        "Does anybody actually use this?",
        "Yeah, about nine thousand restaurants run their orders through it every night.",
    ),
    ("social_proof", None, "Our clients stick around, the average customer has been with us seven years."),
    (
        "social_proof",
        None,
        "A credit union in Minneapolis moved its whole loan book to us in under eight weeks.",
    ),
    ("social_proof", None, "We won the J.D. Power award for customer satisfaction two years in a row."),
    (
        "social_proof",
        None,
        "I can connect you with the ops director at Baxter Freight, they had the exact same challenge.",
    ),
    (
        "social_proof",
        None,
        "One of our marketing clients, a boutique hotel, went from 30 to 80 direct bookings a month.",
    ),
    ("social_proof", None, "Teams like yours at Atlassian and HubSpot have been on this for years."),
    (
        "social_proof",
        None,
        "Reviewers on Capterra keep bringing up our support team, customers say it's our biggest strength.",
    ),
    (
        "social_proof",
        None,
        "Our agency handles insurance for more than three hundred contractors in the tri-state area.",
    ),
    (
        "social_proof",
        None,
        "A dealership group we work with sold forty more cars last quarter after moving their lead "
        "follow-up to us.",
    ),
    # --- pricing -----------------------------------------------------------------------------------
    ("pricing", "What does it cost?", "It's $60 per user a month, or $50 if you go annual."),
    ("pricing", None, "For the coverage we talked about, the quote comes out to $94 a month."),
    ("pricing", None, "List is $429,000, but they've already knocked off ten thousand once."),
    ("pricing", None, "MSRP on that trim is $42,500, and there's $1,500 in dealer cash this month."),
    ("pricing", None, "Wires are $15 domestic and $35 international, incoming ones are free."),
    ("pricing", None, "Each line is forty bucks, and the hotspot add-on is another ten."),
    ("pricing", None, "We take 3 percent of what's processed, capped at five hundred a month."),
    ("pricing", None, "Installed and permitted, you'd be at roughly $22k before incentives."),
    ("pricing", None, "We can give you a 20% nonprofit discount on top of the annual plan."),
    (
        "pricing",
        None,
        "Payment's net 30, and we can invoice quarterly if that works better for your accounting.",
    ),
    ("pricing", None, "Implementation is a one-off $3,000, then it's $750 a month for support."),
    ("pricing", "Is there any wiggle room on price?", "I can go to $27 a seat if you sign for two years."),
    ("pricing", None, "Tuition for the full program is $12,000, payable in four installments."),
    ("pricing", None, "The premium goes up to about $130 a month if you add your son as a driver."),
    ("pricing", None, "Per test it drops to $18 once you're above 500 tests a month."),
    # --- next_step ---------------------------------------------------------------------------------
    ("next_step", None, "Could we grab 20 minutes Tuesday so I can show your dispatch team the live map?"),
    ("next_step", None, "I'll send the DocuSign over this afternoon, you just need to initial two pages."),
    ("next_step", None, "Want me to set up an appraisal for next week?"),
    (
        "next_step",
        None,
        "Let's get you behind the wheel, I've got the blue one ready if you can stop by after work.",
    ),
    ("next_step", None, "The easiest next move is a free energy assessment, when could our tech come out?"),
    (
        "next_step",
        None,
        "If your team likes what they see, we could start the pilot on the first of the month.",
    ),
    ("next_step", None, "Should I loop in our security engineer for a call with your CISO?"),
    ("next_step", None, "Let me book the install for Thursday morning and send you the confirmation."),
    ("next_step", None, "What do you say we get the application in today so you can lock the rate?"),
    (
        "next_step",
        "This all sounds good.",
        "Great! I'll get the order form over and we can have you onboarded next week.",
    ),
    ("next_step", None, "Can I set up a walkthrough of the building with the property manager?"),
    ("next_step", None, "Happy to leave you with a trial account for two weeks, does that sound fair?"),
    ("next_step", None, "When's a good time to present this to your leadership team?"),
    ("next_step", None, "Do you want to lock in a tour for Sunday afternoon?"),
    ("next_step", None, "I'll pencil us in for the 3rd and send the agenda ahead of time."),
    # --- small_talk --------------------------------------------------------------------------------
    ("small_talk", None, "How'd your daughter's soccer tournament go?"),
    ("small_talk", None, "Ugh, this heat is unreal, I hope your AC is holding up."),
    ("small_talk", None, "I noticed you're a fellow Michigan grad, go Blue!"),
    ("small_talk", None, "Is that a guitar on the wall behind you?"),
    ("small_talk", None, "Your out-of-office said you were hiking, where did you go?"),
    ("small_talk", None, "Did you survive the quarter-end madness?"),
    ("small_talk", None, "lol same, I've been living on cold brew this week"),
    ("small_talk", None, "How's life in Austin these days? Still growing like crazy?"),
    ("small_talk", None, "My son just got his license too, it's terrifying."),
    ("small_talk", None, "Did you get to see the eclipse yesterday?"),
    (
        "small_talk",
        "Sorry, my dog is barking.",
        "Ha, no worries, mine does the same whenever the mail carrier comes.",
    ),
    ("small_talk", None, "Happy belated birthday, by the way!"),
    ("small_talk", None, "Must be nice to be back in the office after all the construction."),
    ("small_talk", None, "Are you a big hockey fan? I saw the jersey in your profile picture."),
    ("small_talk", None, "Hope you had a relaxing Thanksgiving."),
    # --- other -------------------------------------------------------------------------------------
    ("other", None, "Sorry, I think we have a bad connection, can I call you right back?"),
    ("other", None, "Let me just pull up the notes from our last conversation."),
    ("other", None, "Hold that thought, someone's at my door."),
    ("other", None, "Alright, that's everything from my side, thanks a lot."),
    ("other", None, "Could you spell your last name for me?"),
    ("other", None, "I'm just going to confirm your address: 14 Elm Street, right?"),
    ("other", None, "Hmm, okay."),
    ("other", None, "Sorry, go ahead, I interrupted you."),
    ("other", None, "Is now still a good time, or would you prefer we reschedule?"),
    ("other", None, "Before we start, just so you know, this call is recorded for quality purposes."),
    ("other", None, "Hi Sarah, it's Tom from Lakeside Realty, got a minute?"),
    ("other", None, "Let me know once the presentation pops up on your end."),
    ("other", None, "Alright, bye now."),
    ("other", None, "I'll need to check with underwriting on that, give me a moment."),
    ("other", None, "Sorry, my internet is being weird today."),
)
