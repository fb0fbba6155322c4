"""Small real-language texts (written for these tests) for ``gen-data faithfulness --from-text``:
twelve paragraphs of three sentences a language, with numbers, negatable verbs, repeated words,
and one paragraph of abbreviations."""

from __future__ import annotations

PL = """\
Program zapisuje pliki w katalogu domowym. Każdy plik jest kopiowany do archiwum co 15 minut. Archiwum zajmuje około 200 megabajtów na dysku.
Okno ustawień pozwala zmienić język interfejsu. Zmiana nie jest widoczna od razu. Należy ponownie uruchomić program, aby nowy język został wczytany.
Drukarka sieciowa działa w biurze na drugim piętrze. Sterownik drukarki został zainstalowany w wersji 3.5. Kolejka wydruku mieści 40 dokumentów.
Kalendarz pokazuje spotkania z całego tygodnia. Spotkanie można przesunąć, przeciągając je myszą. Przypomnienie pojawia się 10 minut przed spotkaniem.
Kopia zapasowa jest tworzona każdej nocy o godzinie 2. Pliki tymczasowe nie są kopiowane do archiwum. Odtworzenie danych trwa zwykle kilka minut.
Użytkownik może mieć wiele kont pocztowych. Każde konto ma własny folder odebranych wiadomości. Filtr wiadomości działa dla wszystkich kont jednocześnie.
Edytor tekstu obsługuje 12 języków. Słownik ortograficzny jest pobierany osobno. Poprawki są zaznaczane czerwoną linią pod wyrazem.
Panel boczny zawiera listę ostatnio otwartych plików. Lista nie jest czyszczona po zamknięciu programu. Można ją wyczyścić w menu Historia.
Serwer przyjmuje połączenia na porcie 8080. Połączenie jest szyfrowane, jeśli certyfikat został podany w konfiguracji. Certyfikat wygasa po 365 dniach.
Tabela arkusza ma 3 kolumny i 20 wierszy. Suma kolumny jest liczona automatycznie. Wykres zostanie odświeżony po zmianie danych.
Dokument został zapisany w formacie tekstowym. Formatowanie tekstu nie zostało zachowane. Obrazy w dokumencie są zapisywane w osobnym folderze.
Skrót klawiszowy otwiera nowe okno programu. Okno jest otwierane na środku ekranu. Rozmiar okna można zmienić, przeciągając jego krawędź.
Program obsługuje m.in. pliki PDF, np. faktury i umowy. Autorem wtyczki jest J. Kowalski z firmy Orzeł. Plik ma rozmiar 2.5 MB i 3 strony.
"""

VI = """\
Chương trình lưu tệp trong thư mục cá nhân. Mỗi tệp được sao chép vào kho lưu trữ sau 15 phút. Kho lưu trữ chiếm khoảng 200 megabyte trên ổ đĩa.
Cửa sổ cài đặt cho phép thay đổi ngôn ngữ giao diện. Thay đổi sẽ không hiển thị ngay lập tức. Bạn cần khởi động lại chương trình để áp dụng ngôn ngữ mới.
Máy in mạng đặt tại văn phòng trên tầng 2. Trình điều khiển máy in là phiên bản 3.5. Hàng đợi in có thể chứa 40 tài liệu.
Lịch hiển thị các cuộc họp trong cả tuần. Bạn có thể di chuyển cuộc họp bằng chuột. Lời nhắc xuất hiện 10 phút trước cuộc họp.
Bản sao lưu được tạo mỗi đêm lúc 2 giờ. Tệp tạm thời không được sao chép vào kho lưu trữ. Việc khôi phục dữ liệu thường mất vài phút.
Người dùng có thể có nhiều tài khoản thư. Mỗi tài khoản có thư mục riêng cho thư đến. Bộ lọc thư hoạt động cho mọi tài khoản cùng lúc.
Trình soạn thảo văn bản hỗ trợ 12 ngôn ngữ. Từ điển chính tả được tải về riêng. Lỗi chính tả được đánh dấu bằng đường gạch đỏ.
Bảng bên chứa danh sách tệp mở gần đây. Danh sách không bị xóa khi đóng chương trình. Bạn có thể xóa danh sách trong trình đơn Lịch sử.
Máy chủ nhận kết nối trên cổng 8080. Kết nối được mã hóa nếu chứng chỉ có trong cấu hình. Chứng chỉ hết hạn sau 365 ngày.
Bảng tính có 3 cột và 20 hàng. Tổng của cột được tính tự động. Biểu đồ sẽ được cập nhật khi dữ liệu thay đổi.
Tài liệu đã được lưu ở định dạng văn bản. Định dạng văn bản không được giữ lại. Hình ảnh trong tài liệu được lưu trong thư mục riêng.
Phím tắt mở cửa sổ mới của chương trình. Cửa sổ mới xuất hiện ở giữa màn hình. Bạn có thể thay đổi kích thước cửa sổ bằng cách kéo cạnh của nó.
Văn phòng chính đặt tại TP. Hồ Chí Minh từ năm 2010. Tệp cấu hình có 3 phần, v.v. Mỗi phần bắt đầu bằng một tên trong ngoặc vuông.
"""

KA = """\
პროგრამა ფაილებს პირად საქაღალდეში ინახავს. ყოველი ფაილი არქივში 15 წუთში ერთხელ კოპირდება. არქივი დისკზე დაახლოებით 200 მეგაბაიტს იკავებს.
პარამეტრების ფანჯარა ინტერფეისის ენის შეცვლის საშუალებას იძლევა. ცვლილება მაშინვე არ ჩანს. ახალი ენის ჩასატვირთად პროგრამა თავიდან უნდა გაეშვას.
ქსელური პრინტერი მეორე სართულზე მდებარე ოფისში მუშაობს. პრინტერის დრაივერის ვერსია არის 3.5. ბეჭდვის რიგში 40 დოკუმენტი ეტევა.
კალენდარი მთელი კვირის შეხვედრებს აჩვენებს. შეხვედრის გადატანა თაგუნით შეიძლება. შეხსენება შეხვედრამდე 10 წუთით ადრე ჩანს.
სარეზერვო ასლი ყოველ ღამე 2 საათზე იქმნება. დროებითი ფაილები არქივში არ კოპირდება. მონაცემების აღდგენას ჩვეულებრივ რამდენიმე წუთი სჭირდება.
მომხმარებელს რამდენიმე საფოსტო ანგარიში შეიძლება ჰქონდეს. ყოველ ანგარიშს შემოსული წერილების საკუთარი საქაღალდე აქვს. წერილების ფილტრი ყველა ანგარიშისთვის ერთდროულად მუშაობს.
ტექსტური რედაქტორი 12 ენას უჭერს მხარს. მართლწერის ლექსიკონი ცალკე ჩამოიტვირთება. შეცდომები წითელი ხაზით აღინიშნება.
გვერდითი პანელი ბოლოს გახსნილი ფაილების სიას შეიცავს. სია პროგრამის დახურვის შემდეგ არ სუფთავდება. სიის გასუფთავება ისტორიის მენიუში შეიძლება.
სერვერი კავშირებს 8080 პორტზე იღებს. კავშირი დაშიფრულია, თუ სერტიფიკატი კონფიგურაციაშია მითითებული. სერტიფიკატი 365 დღის შემდეგ იწურება.
ცხრილს 3 სვეტი და 20 სტრიქონი აქვს. სვეტის ჯამი ავტომატურად ითვლება. დიაგრამა მონაცემების შეცვლის შემდეგ განახლდება.
დოკუმენტი ტექსტურ ფორმატში შეინახა. ტექსტის ფორმატირება ვერ შენარჩუნდა. დოკუმენტის სურათები ცალკე საქაღალდეში ინახება.
ფაილის გახსნა ვერ მოხერხდა. ფაილი სხვა პროგრამის მიერ არის დაკავებული. დახურეთ სხვა პროგრამა და სცადეთ თავიდან.
პროგრამა მრავალ ფორმატს კითხულობს, მაგ. PDF და ODT ფაილებს. არქივის ზომა 2.5 გიგაბაიტია. ძველი ასლები 30 დღის შემდეგ იშლება.
"""

TEXTS = {"pl": PL, "vi": VI, "ka": KA}
