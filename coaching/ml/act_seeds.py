"""The hand-written seed set of the dialogue-act classifier: (act, rep text), about 30 per act.

What each act means here (the labelled evaluation set in tests/coaching/ml follows the same rules):

- discovery_question: the rep asks about the buyer's situation, problems, process, people, timeline or
  budget ("what budget did you have in mind?" is discovery: the rep asks, it does not quote).
- value_statement: what the product does for this buyer: features, benefits, outcomes.
- objection_handling: the rep answers a doubt, stall or blocker the customer raised: acknowledges it,
  reframes it, or removes it (a concession offered to remove it counts here).
- social_proof: other customers, references, case studies, reviews, awards, how many use it.
- pricing: the rep states prices, plans, fees, discounts or payment terms.
- next_step: the rep proposes what happens next: a meeting, demo, visit, trial, proposal, contract, order.
- small_talk: rapport that is not about the deal (weekends, weather, sports, family, travel).
- other: housekeeping: connection trouble, holds, spelling, agenda, recording notice, thanks and goodbye.

The lines are written the way reps talk on calls and in chat, across many industries (SaaS, insurance,
real estate, automotive, banking, telecom, healthcare, solar, logistics, HR, security, education, ...).
They are plain data: edit freely, then bump ACTS_VERSION in coaching.ml.acts so stored labels say which
seed set produced them.
"""

from __future__ import annotations

SEED_TURNS: tuple[tuple[str, str], ...] = (
    # --- discovery_question ------------------------------------------------------------------------
    (
        "discovery_question",
        "So walk me through what happens today when a new lead comes in. Who picks it up?",
    ),
    (
        "discovery_question",
        "How are you handling claims intake right now, is that all phone or do you have something online?",
    ),
    ("discovery_question", "What's got you looking at houses now rather than, say, next spring?"),
    (
        "discovery_question",
        "Is this mostly for the commute, or are you hauling the kids and gear around on weekends too?",
    ),
    (
        "discovery_question",
        "When you say cash flow gets tight, is that seasonal or more of a year-round thing?",
    ),
    ("discovery_question", "How many lines are you running across the two offices at the moment?"),
    ("discovery_question", "How long does it usually take your front desk to verify a patient's insurance?"),
    ("discovery_question", "What does your electric bill look like in the summer months?"),
    ("discovery_question", "Who else would be weighing in on a decision like this on your side?"),
    ("discovery_question", "What's the biggest headache with your current payroll provider?"),
    ("discovery_question", "If you had to pick one thing to fix first, what would it be?"),
    (
        "discovery_question",
        "Have you had any security incidents in the last year, even small phishing stuff?",
    ),
    ("discovery_question", "Are you pre-approved yet, or is that something we should look at together?"),
    ("discovery_question", "What made you reach out to us this week specifically?"),
    ("discovery_question", "how are your drivers getting their routes each morning?"),
    ("discovery_question", "What happens when a shipment shows up damaged, how do you deal with it today?"),
    ("discovery_question", "Is there a date you're working toward, like a renewal or a launch?"),
    ("discovery_question", "What have you tried so far to bring churn down?"),
    ("discovery_question", "How many people on your team would actually be in this day to day?"),
    ("discovery_question", "What does success look like for you six months from now?"),
    ("discovery_question", "Do you own the building or are you leasing?"),
    (
        "discovery_question",
        "How's the current policy set up? Just general liability, or do you have umbrella coverage as well?",
    ),
    ("discovery_question", "Are your clinicians charting during the visit or after hours?"),
    ("discovery_question", "How do you decide which channels get the marketing budget each quarter?"),
    ("discovery_question", "What's driving the move, is it the contract ending or service issues?"),
    (
        "discovery_question",
        "Out of curiosity, how much time does month-end close eat up for your finance team?",
    ),
    ("discovery_question", "And when the system goes down, what does an hour of that cost you?"),
    ("discovery_question", "How many vehicles are in the fleet, and roughly how old are most of them?"),
    ("discovery_question", "What would need to be true for you to feel comfortable switching?"),
    ("discovery_question", "Can you tell me a bit about how students hand in assignments today?"),
    ("discovery_question", "Which part of the process do your reps complain about most?"),
    ("discovery_question", "So approvals go through procurement, how long does that usually take?"),
    # --- value_statement ---------------------------------------------------------------------------
    (
        "value_statement",
        "The nice thing is it pulls call notes straight into the CRM, so nobody's retyping anything at five.",
    ),
    (
        "value_statement",
        "If a storm damages the roof, this policy pays full replacement cost, not the depreciated value.",
    ),
    (
        "value_statement",
        "This unit gets great morning light and the HOA covers exterior maintenance, so weekends are yours.",
    ),
    ("value_statement", "The hybrid runs on electric at low speeds, so in city traffic you barely use gas."),
    ("value_statement", "You'd get same-day transfers between accounts and a banker you can actually call."),
    (
        "value_statement",
        "Our fiber is symmetrical, so uploads are as fast as downloads. Huge if you're on video calls all "
        "day.",
    ),
    (
        "value_statement",
        "The scheduling module texts patients reminders automatically, that's usually where no-shows drop.",
    ),
    (
        "value_statement",
        "Once the panels are up, most of your daytime usage comes off your own roof instead of the grid.",
    ),
    (
        "value_statement",
        "Basically it flags risky invoices before they go out, so your team isn't chasing corrections later.",
    ),
    (
        "value_statement",
        "Everything's encrypted end to end and you get an alert the second someone logs in from somewhere "
        "odd.",
    ),
    (
        "value_statement",
        "It plugs into QuickBooks, so payroll lands in your books without anyone exporting a CSV.",
    ),
    (
        "value_statement",
        "What it really does is give your managers one screen for the whole pipeline instead of five "
        "spreadsheets.",
    ),
    (
        "value_statement",
        "The optimizer recalculates live, so if a driver's stuck in traffic the next stops shift on their "
        "own.",
    ),
    ("value_statement", "You can see every open claim and where it stands from your phone, anytime."),
    (
        "value_statement",
        "The battery's covered for eight years, so that's one thing you won't have to worry about.",
    ),
    ("value_statement", "teachers grade right inside the platform and the marks sync to the gradebook"),
    ("value_statement", "It's built so a new hire is productive in a day, not a month."),
    ("value_statement", "Since it's all in the cloud there's no server in a closet for you to patch."),
    (
        "value_statement",
        "There's no prepayment penalty, so if you come into some money you can pay it down whenever you "
        "like.",
    ),
    (
        "value_statement",
        "For teams like yours the big win is time: the weekly report goes from half a day to about ten "
        "minutes.",
    ),
    (
        "value_statement",
        "You keep your numbers, and calls follow you to your cell when you're out of the office.",
    ),
    (
        "value_statement",
        "It learns which leads are most likely to buy, so your reps call the hot ones first.",
    ),
    ("value_statement", "You also get a rental car while yours is in the shop, that's included."),
    (
        "value_statement",
        "You'd see spend for every campaign on one dashboard, so you can move budget in minutes, not "
        "monthly.",
    ),
    ("value_statement", "The rooms have all the AV built in, so your presenters just plug in and go."),
    ("value_statement", "There's a 24/7 nurse line included, which takes a lot of pressure off the ER."),
    (
        "value_statement",
        "The machine changes over between runs in under ten minutes, so short batches actually make sense.",
    ),
    (
        "value_statement",
        "Your customers can pay right from the text message, which usually speeds up collections a lot.",
    ),
    (
        "value_statement",
        "The kitchen was redone two years ago, so you're not looking at a renovation for ages.",
    ),
    ("value_statement", "We handle the filings in all fifty states, so you're covered if someone moves."),
    ("value_statement", "Your guests can check in from their phone and skip the front desk line entirely."),
    (
        "value_statement",
        "The sensors warn you a week before a bearing fails, so you fix it on your schedule, not at 2 a.m.",
    ),
    (
        "value_statement",
        "Members book classes in the app, and the waitlist fills cancelled spots on its own.",
    ),
    (
        "value_statement",
        "Every contract gets a clause check against your playbook, so junior associates aren't guessing.",
    ),
    (
        "value_statement",
        "With variable-rate irrigation you put water where the field needs it and nowhere else.",
    ),
    (
        "value_statement",
        "Returns get a prepaid label automatically, which takes most tickets off your support queue.",
    ),
    # --- objection_handling ------------------------------------------------------------------------
    (
        "objection_handling",
        "I totally hear you on the price. What are you comparing it against, so we look at apples to apples?",
    ),
    (
        "objection_handling",
        "That's a fair concern. A lot of folks worry the switch will be messy, which is why we run both "
        "systems side by side for the first month.",
    ),
    (
        "objection_handling",
        "I get it, timing's never perfect. What if we line things up now so you're ready when budget opens?",
    ),
    (
        "objection_handling",
        "Understood that you're happy with your carrier. Would it hurt to see the coverage side by side, "
        "just "
        "so you know where the gaps are?",
    ),
    (
        "objection_handling",
        "Totally fair that you want to run it by your partner. What do you think they'll ask? I can help "
        "you answer it.",
    ),
    (
        "objection_handling",
        "I understand it feels like a lot. Broken down, it's less than you're losing each month to missed "
        "appointments.",
    ),
    (
        "objection_handling",
        "That makes sense, and you're not the first to tell me. Most who switched did it because support "
        "kept getting slower.",
    ),
    (
        "objection_handling",
        "No, I appreciate you being straight with me. If budget's the blocker we could start with one "
        "location and expand later.",
    ),
    (
        "objection_handling",
        "I hear you've been burned by a vendor before. That's exactly why there's no long-term contract, "
        "you can leave any month.",
    ),
    (
        "objection_handling",
        "Fair point on the rate. Keep in mind it's locked for the full term, so you're protected if rates "
        "go up.",
    ),
    (
        "objection_handling",
        "I know the house needs work, and I'd factor that into the offer. We can ask the seller for a "
        "credit on the roof.",
    ),
    (
        "objection_handling",
        "You can absolutely keep your current tool. Customers usually connect the two instead of ripping "
        "anything out.",
    ),
    (
        "objection_handling",
        "That's a really common worry with solar. The panels are hail-rated, and if one gets damaged the "
        "warranty replaces it.",
    ),
    (
        "objection_handling",
        "You're right that setup takes some effort, but our team does most of it and you'd be live in about "
        "two weeks.",
    ),
    (
        "objection_handling",
        "I completely understand not wanting to commit before the board meets. Would a one-pager they can "
        "review help?",
    ),
    (
        "objection_handling",
        "Okay, so it's less about the product and more about bandwidth right now, did I get that right?",
    ),
    (
        "objection_handling",
        "I hear you, nobody wants another login. It works inside Outlook, so your team never opens a new "
        "app.",
    ),
    (
        "objection_handling",
        "Understandable. If you're not sure it'll work for your team, that's what the pilot's for, and it "
        "costs nothing if it doesn't.",
    ),
    (
        "objection_handling",
        "That's fair, and I don't want you buying something you don't need. Can I ask what makes you feel "
        "that way?",
    ),
    (
        "objection_handling",
        "I get the concern about data security. We're SOC 2 Type II and I can send the report to your IT "
        "lead.",
    ),
    (
        "objection_handling",
        "Yeah, I know the other dealer came in lower. Let's look at what's included, their number leaves "
        "out the extended warranty.",
    ),
    ("objection_handling", "I get why that feels high. What would make it feel worth it to you?"),
    (
        "objection_handling",
        "Totally valid. If the contract length is the sticking point, we can do month-to-month the first "
        "year.",
    ),
    (
        "objection_handling",
        "I respect that you're loyal to your bank. Plenty of our clients keep their main account there and "
        "use us just for the credit line.",
    ),
    (
        "objection_handling",
        "Honestly it's not for everyone. Where it falls short is very small teams, and that's not you.",
    ),
    (
        "objection_handling",
        "I hear you, and I'm not going to push. What would have to change for this to matter next quarter?",
    ),
    (
        "objection_handling",
        "Sorry the last install went badly. We give you one project manager from day one, so you always "
        "know who to call.",
    ),
    (
        "objection_handling",
        "It's smart to shop around. Just so you know, the rate I quoted holds for 30 days, so no rush.",
    ),
    (
        "objection_handling",
        "I see where you're coming from on the learning curve. Most clinics are comfortable within a week "
        "because we train the staff on site.",
    ),
    (
        "objection_handling",
        "You said the coverage seems like overkill for a small shop. Let me show you which parts you could "
        "drop.",
    ),
    (
        "objection_handling",
        "totally get it, a lot of our customers said the same before they saw the numbers",
    ),
    (
        "objection_handling",
        "I understand wanting to wait for the new model. The thing is, the current incentives end this "
        "month.",
    ),
    (
        "objection_handling",
        "That's a valid point about the waiting period. Accident cover still applies from day one, though.",
    ),
    (
        "objection_handling",
        "I hear you that your agent's been great. We're not asking you to drop them, just to compare the "
        "renewal.",
    ),
    (
        "objection_handling",
        "Sure, it's a bigger number than the basic plan. Let me show you what basic would leave you paying "
        "out of pocket.",
    ),
    (
        "objection_handling",
        "If your IT team is stretched, that's okay, we do the setup remotely and it takes them maybe an "
        "hour.",
    ),
    (
        "objection_handling",
        "I get that you've got a lot on your plate. Would a short summary for when things calm down be "
        "easier?",
    ),
    # --- social_proof ------------------------------------------------------------------------------
    (
        "social_proof",
        "We work with about forty dental practices in the state, and most moved over from the system you're "
        "on.",
    ),
    (
        "social_proof",
        "One of our clients, a regional trucking company, cut fuel spend twelve percent in the first "
        "quarter.",
    ),
    (
        "social_proof",
        "Honestly the best reference is the Hendersons down the street, they bought with us last year and "
        "I'm happy to put you in touch.",
    ),
    ("social_proof", "It's been the top-rated SUV in its class for safety three years running."),
    (
        "social_proof",
        "A couple of credit unions your size switched to us last year and both said onboarding took under a "
        "month.",
    ),
    (
        "social_proof",
        "Over two thousand small businesses run their phones on our network, including a few in your "
        "building.",
    ),
    (
        "social_proof",
        "St. Mary's rolled this out across their outpatient clinics and no-shows dropped by almost a third.",
    ),
    (
        "social_proof",
        "We have a case study from a manufacturer in Ohio with almost exactly your setup, I'll dig it out.",
    ),
    (
        "social_proof",
        "Most of our customers are teams of ten to fifty reps, so you'd be right in the sweet spot.",
    ),
    ("social_proof", "We were named a leader in the Gartner report this year, for what it's worth."),
    (
        "social_proof",
        "A school district near you went live in the fall, the teachers love it, and I can share their "
        "contact.",
    ),
    (
        "social_proof",
        "Homeowners in this neighborhood save around a hundred bucks a month since going solar.",
    ),
    (
        "social_proof",
        "One agency we work with doubled their qualified leads in six months with this playbook.",
    ),
    ("social_proof", "Three of the five biggest logistics firms in the region route with us."),
    (
        "social_proof",
        "We insure about half the restaurants on this street, so we know the risks pretty well.",
    ),
    (
        "social_proof",
        "A law firm of about sixty people told me it's the first tool their partners actually log into.",
    ),
    ("social_proof", "We've got over four thousand reviews on G2 and we sit at 4.7 stars."),
    (
        "social_proof",
        "Your competitor across town switched to us last spring, and they've been pretty vocal about it.",
    ),
    (
        "social_proof",
        "I was just talking to a hotel group with the same staffing issue, they've filled every weekend "
        "shift since.",
    ),
    (
        "social_proof",
        "People were skeptical at first, but ninety percent of our pilots turn into full rollouts.",
    ),
    ("social_proof", "The Garcias bought the same floor plan two doors down and they've been thrilled."),
    ("social_proof", "We've been serving farmers in this county for over thirty years."),
    ("social_proof", "Companies like Shopify and Zendesk use us for exactly this."),
    (
        "social_proof",
        "One of our biggest accounts is a hospital network with twelve sites, we run all their scheduling.",
    ),
    ("social_proof", "I can send you a short video where their CFO walks through the results."),
    (
        "social_proof",
        "Last year we helped more than five hundred families refinance, most of them first-time clients.",
    ),
    (
        "social_proof",
        "A gym chain with twenty locations moved memberships to us and cut failed payments in half.",
    ),
    ("social_proof", "Our retention is over ninety-five percent, once people are on they tend to stay."),
    (
        "social_proof",
        "A software company your size saw close rates go from eighteen to twenty-six percent in a quarter.",
    ),
    (
        "social_proof",
        "everyone from mom-and-pop shops to a couple of national chains runs their loyalty program on us",
    ),
    ("social_proof", "Half the breweries in the state run their taprooms on our point of sale."),
    (
        "social_proof",
        "The Riverside Y moved their member billing to us last year, I'm sure their director would take "
        "your call.",
    ),
    (
        "social_proof",
        "We run payroll for about eleven hundred nonprofits, so grant reporting is something we know well.",
    ),
    (
        "social_proof",
        "Customers rate our claims service 4.8 out of 5, and those are people who actually had a claim.",
    ),
    (
        "social_proof",
        "A plant in Monterrey with three lines like yours cut unplanned downtime by a quarter in year one.",
    ),
    (
        "social_proof",
        "We did the same rollout for two firms in your building, so I know how your IT team works.",
    ),
    # --- pricing -----------------------------------------------------------------------------------
    (
        "pricing",
        "So the Team plan is $45 a seat per month, billed annually, and that includes the integrations.",
    ),
    ("pricing", "For a home this size your premium comes to about $1,280 a year, or $107 a month."),
    ("pricing", "They're asking $525,000, and the seller has said they're open to offers around there."),
    ("pricing", "With the loyalty discount, out the door on the LX trim is $31,400."),
    ("pricing", "No monthly fee on business checking as long as you keep $2,500 in the account."),
    ("pricing", "Unlimited runs $35 a line, and with five lines or more it drops to $30."),
    ("pricing", "Pricing is per provider, $299 a month per clinician with the patient portal included."),
    (
        "pricing",
        "The full system installed is $18,500 before the federal tax credit, so closer to $13,000 after.",
    ),
    ("pricing", "If you sign before the end of the month, I can take 15% off the first year."),
    ("pricing", "We charge a flat 2.9% per transaction, no setup fee and no monthly minimum."),
    ("pricing", "It's $12 per employee per month, and the first three months are half price."),
    ("pricing", "Our retainer starts at $4,000 a month for the core package."),
    ("pricing", "The annual license for up to 200 endpoints is $9,600."),
    ("pricing", "Financing is 4.9% APR over 60 months, which works out to about $540 a month."),
    ("pricing", "I can do the enterprise tier at the standard tier price if you commit to two years."),
    ("pricing", "There's a one-time onboarding fee of $1,500, but I can waive that for you."),
    ("pricing", "The line of credit is at prime plus two, no annual fee the first year."),
    ("pricing", "Each extra user is $8 a month, so for a team of 20 that's $160 on top of the base."),
    ("pricing", "Commission is 5% of the sale price, split between the listing and buyer agents."),
    ("pricing", "We bill per shipment, $4.20 for anything under five pounds and $6.75 up to twenty."),
    ("pricing", "So you're looking at about nine hundred a month all in, locked for three years."),
    ("pricing", "The deductible is $500 and the copay for specialist visits is $40."),
    ("pricing", "It's $6 per student per year, and district-wide licenses get a further discount."),
    ("pricing", "If you prepay for the year it comes out to two months free."),
    (
        "pricing",
        "The price includes installation and the first year of maintenance, after that it's $350 a year.",
    ),
    (
        "pricing",
        "Let me give you the numbers: base rent is $28 a square foot, plus about $6 in common area charges.",
    ),
    ("pricing", "We can split the down payment into three installments if that's easier on cash flow."),
    ("pricing", "The premium package adds $2,100, and that gets you heated seats and the tech bundle."),
    ("pricing", "The room block is $189 a night for the conference, parking included."),
    (
        "pricing",
        "it depends on how many sites you have, but most teams your size land between three and five grand "
        "a month",
    ),
    # --- next_step ---------------------------------------------------------------------------------
    ("next_step", "How does Thursday at two look for a quick demo with your ops lead?"),
    ("next_step", "Why don't I send the proposal over tonight and we go through it together on Monday?"),
    (
        "next_step",
        "If you're good with the coverage, I'll email the application and we can get the policy bound by "
        "Friday.",
    ),
    ("next_step", "Want to come see the place Saturday? I can get us in around eleven."),
    ("next_step", "Let's get you in for a test drive, are mornings or afternoons better for you?"),
    ("next_step", "I'd suggest a call with your IT person so they can see the security setup first-hand."),
    ("next_step", "Can I grab 30 minutes on your calendar next week to walk your team through it?"),
    ("next_step", "The next step would be a site survey, our tech needs about an hour on the roof."),
    ("next_step", "Shall I get the paperwork started so you're up and running before the holidays?"),
    ("next_step", "What if we kicked off a two-week trial with three of your reps and regrouped after that?"),
    ("next_step", "I'll draft the agreement and send it over for your legal team to review."),
    ("next_step", "Would it make sense to loop your CFO in on the next call?"),
    (
        "next_step",
        "Let me get a formal quote to you by tomorrow morning, then we can lock in the install date.",
    ),
    ("next_step", "Are you free Wednesday for a follow-up to go over the numbers with your partner?"),
    (
        "next_step",
        "If you're ready, I can open the account right now over the phone, it takes about ten minutes.",
    ),
    ("next_step", "Can we pencil in the contract signing for the end of the month?"),
    ("next_step", "I'll have our implementation lead reach out to schedule the kickoff."),
    ("next_step", "How about a short pilot at one of your clinics first, see how the staff like it?"),
    ("next_step", "Should I go ahead and submit the offer tonight so we're ahead of the weekend showings?"),
    ("next_step", "Let's book the onboarding session, does the 14th work for you?"),
    ("next_step", "Is there anything stopping us from getting the order in today?"),
    ("next_step", "I'll send you an invite for a demo with our solutions engineer."),
    ("next_step", "To move forward I just need the signed order form, then we ship the equipment next week."),
    ("next_step", "Would you like me to hold that unit for you while you talk it over at home?"),
    ("next_step", "Can I send you the contract to sign electronically?"),
    ("next_step", "Let's set up a quick meeting with your procurement team to get the vendor forms done."),
    ("next_step", "What time works tomorrow for me to swing by the office with the sample kit?"),
    ("next_step", "If it helps, I can set up a sandbox account today so your team can poke around."),
    ("next_step", "Do you want to go ahead and schedule the installation for the week of the 20th?"),
    ("next_step", "how about I check back with you friday after you've talked to the board"),
    # --- small_talk --------------------------------------------------------------------------------
    ("small_talk", "How was the long weekend? Did you get out of town at all?"),
    ("small_talk", "I saw the game last night, rough finish for your team."),
    ("small_talk", "Is it still snowing up there? We've had nothing but rain all week."),
    ("small_talk", "Congrats on the new office, by the way, I saw the photos on LinkedIn."),
    ("small_talk", "Ha, I know the feeling, my kids have been up since five too."),
    ("small_talk", "How's the new puppy settling in?"),
    ("small_talk", "Oh nice, I love that area, there's a great taco place right by the station."),
    ("small_talk", "Sounds like you've had a crazy week, hope things calm down a bit."),
    ("small_talk", "Did you end up making it to the conference in Vegas?"),
    ("small_talk", "Beautiful day for it, huh? I'm trying to sneak in a walk at lunch."),
    ("small_talk", "Are you guys doing anything fun for the holidays?"),
    ("small_talk", "I think I hear your dog in the background, what kind is it?"),
    ("small_talk", "How's the coffee situation over there? I'm on my third cup."),
    ("small_talk", "You're in Denver? I lived there for a couple of years, loved it."),
    ("small_talk", "Happy Friday! Any plans for the weekend?"),
    ("small_talk", "Wait, you ran the marathon? That's amazing, how'd it go?"),
    ("small_talk", "How's the renovation going? Last time you said the kitchen was torn apart."),
    ("small_talk", "Hope the move went smoothly, still boxes everywhere?"),
    ("small_talk", "I'm actually a big fan of your brand, my wife buys your granola every week."),
    ("small_talk", "Busy season must be keeping you on your toes."),
    ("small_talk", "Did you catch any of the Olympics? I've been hooked on the swimming."),
    ("small_talk", "Ha, yeah, Mondays are rough. I'm still waking up."),
    ("small_talk", "How was the trip to Portugal? I've always wanted to go."),
    ("small_talk", "That's a great view behind you, is that the lake?"),
    ("small_talk", "How are the kids liking the new school?"),
    ("small_talk", "I hope you managed to stay dry in that storm yesterday."),
    ("small_talk", "Wait, you play in a band too? What kind of music?"),
    ("small_talk", "It's been a while! How have things been since we last spoke?"),
    ("small_talk", "Good morning! How's your day treating you so far?"),
    ("small_talk", "traffic on the bridge was brutal this morning, hope you missed it"),
    # --- other -------------------------------------------------------------------------------------
    ("other", "Sorry, you cut out for a second there, could you repeat the last part?"),
    ("other", "Give me one sec, I'm just pulling up your file."),
    ("other", "Can you hear me okay? I just switched to my headset."),
    ("other", "Thanks so much for your time today, I really appreciate it."),
    ("other", "No problem at all, take care and talk soon."),
    ("other", "Just so I have it right, it's Jen with one N?"),
    ("other", "Let me double-check the spelling of the company name for my notes."),
    ("other", "Okay, got it."),
    ("other", "I'm going to put you on a brief hold while I check with my manager."),
    ("other", "Quick housekeeping, I've blocked 30 minutes, does that still work on your end?"),
    ("other", "Before we dive in, is it okay if I record this call for my notes?"),
    ("other", "Sure, I can hold on while you grab that."),
    ("other", "Hi, this is Mark from Brightline Insurance, returning your call from this morning."),
    ("other", "Right, okay. Mm-hmm."),
    ("other", "Sorry about that, my screen just froze on me."),
    ("other", "The plan for today is to hear about your setup first, and then I'll show you a few things."),
    ("other", "Oh sorry, I thought you were done, go ahead."),
    ("other", "Is this still a good number to reach you on?"),
    ("other", "Let me mute for a second, there's a lot of noise on my end."),
    ("other", "Got it, I'll make a note of that."),
    ("other", "Okay, I'm sharing my screen now, can you see the browser window?"),
    ("other", "Apologies for running a couple of minutes late."),
    ("other", "Thanks for the heads-up, I'll update your email address in our system."),
    ("other", "No worries, I understand you have to jump. Have a good one."),
    ("other", "Sorry, which John, the one in finance or in operations?"),
    ("other", "Perfect, thanks for confirming."),
    ("other", "I'll let you get back to your day then."),
    ("other", "Hang on, my calendar is acting up, let me refresh."),
    ("other", "Hello? Are you still there?"),
    ("other", "bear with me while this page loads"),
    ("other", "Sorry, I'm driving, so if I drop it's the tunnel."),
    ("other", "Let me just read that back to you to make sure I got it."),
    ("other", "Actually, one correction from earlier: it's the second floor, not the third."),
)
